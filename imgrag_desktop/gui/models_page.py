"""The Models page (File → Models…, and the first-run assistant when a model is missing).

Lists the CLIP choices and the local vision-language catalogue (`models/catalogue.py`), each
installed / not installed / partly downloaded; downloads on a worker thread with a progress
bar, bytes, rate and time left; pause (the partial file is kept and resumed) and cancel (it is
removed); "Use files on this computer…" for a local checkpoint or GGUF. Nothing is downloaded
until the user presses Download. Listing and downloading run on the worker's thread: the GUI
thread never touches the network or the models folder.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.config import AppConfig

COLUMNS = ("Model", "Kind", "Download", "Memory", "Speed", "COCO R@5", "Languages", "State")


def state_text(row: dict[str, Any]) -> str:
    if row["installed"]:
        return "in use" if row["in_use"] else "installed"
    if row.get("partial_bytes"):
        return f"partly downloaded ({row['partial_bytes'] / 1e6:.0f} MB)"
    return "not installed" + (" (in use: waiting)" if row["in_use"] else "")


def progress_text(e: Any) -> str:
    """"12.3 MB of 605.0 MB · 4.2 MB/s · 2 min left" for a DownloadEvent."""
    from imgrag_desktop.models.downloads import human_bytes

    if e.phase == "verify":
        return f"{e.name}: checking the file against the hub's checksum…"
    parts = [f"{human_bytes(e.done)} of {human_bytes(e.total)}" if e.total else human_bytes(e.done)]
    if e.rate_bps:
        parts.append(f"{human_bytes(e.rate_bps)}/s")
    if e.eta_s is not None:
        eta = e.eta_s
        parts.append(f"{eta:.0f} s left" if eta < 90 else f"{eta / 60:.0f} min left")
    return f"{e.name}: " + " · ".join(parts)


class ModelsWorker(QObject):
    """Lists and downloads on its own thread; answers with signals."""

    listed = Signal(object, object)  # rows, missing
    progress = Signal(object)  # DownloadEvent
    finished = Signal(str, str)  # name, kind
    failed = Signal(str, str)  # name, one sentence

    def __init__(self, cfg: AppConfig, endpoint: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.endpoint = endpoint
        self.cancel = threading.Event()
        self.keep_partial = True

    @Slot()
    def list_models(self) -> None:
        from imgrag_desktop.models import catalogue

        self.listed.emit(catalogue.rows(self.cfg), catalogue.missing(self.cfg))

    @Slot(str)
    def download(self, name: str) -> None:
        from imgrag_desktop.models import catalogue
        from imgrag_desktop.models.downloads import DownloadCancelled, HubDownloader
        from imgrag_desktop.types import ImgragError

        self.cancel.clear()
        self.keep_partial = True
        try:
            kind, _ = catalogue.find(name)
            catalogue.install(self.cfg, name, progress=self.progress.emit, cancel=self.cancel,
                              downloader=HubDownloader(endpoint=self.endpoint))
            self.finished.emit(name, kind)
        except DownloadCancelled as exc:
            if self.keep_partial:
                self.failed.emit(name, f"Paused: {exc}")
            else:  # cancel: nothing of it stays
                catalogue.discard_partial(self.cfg, name)
                self.failed.emit(name, f"Download of {name} cancelled; the partial file was removed.")
        except ImgragError as exc:
            self.failed.emit(name, str(exc))
        self.list_models()

    @Slot(str)
    def use_local(self, path: str) -> None:
        """A checkpoint (CLIP) or a GGUF (VLM, text only until a projector is set in Settings)."""
        from imgrag_desktop.models import catalogue
        from imgrag_desktop.types import ImgragError

        try:
            kind = catalogue.use_local_file(self.cfg, path)
            self.finished.emit(path, kind)
        except ImgragError as exc:
            self.failed.emit(path, str(exc))
        self.list_models()

    @Slot(str)
    def use(self, name: str) -> None:
        from imgrag_desktop.models import catalogue
        from imgrag_desktop.types import ImgragError

        try:
            catalogue.use(self.cfg, name)
        except ImgragError as exc:
            self.failed.emit(name, str(exc))
        self.list_models()


class ModelsDialog(QDialog):
    """The Models page. `downloaded(name, kind)` tells the window a model is ready."""

    downloaded = Signal(str, str)
    localFilesChosen = Signal(str)  # a checkpoint or GGUF path
    _list = Signal()
    _download = Signal(str)
    _use = Signal(str)
    _local = Signal(str)

    def __init__(self, cfg: AppConfig, parent: QWidget | None = None, first_run: bool = False,
                 endpoint: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.resize(900, 460)
        self.rows: list[dict[str, Any]] = []
        self.busy = ""
        lay = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setObjectName("modelsIntro")
        lay.addWidget(self.intro)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.table)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setVisible(False)
        self.status = QLabel("Nothing is downloaded until you press Download.")
        self.status.setObjectName("modelsStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        buttons = QHBoxLayout()
        self.btn_download = QPushButton("&Download")
        self.btn_pause = QPushButton("&Pause")
        self.btn_cancel = QPushButton("&Cancel download")
        self.btn_use = QPushButton("&Use")
        self.btn_local = QPushButton("Use files on this &computer…")
        self.btn_close = QPushButton("Close")
        for b in (self.btn_download, self.btn_pause, self.btn_cancel, self.btn_use, self.btn_local):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.btn_close)
        lay.addLayout(buttons)
        self.btn_download.clicked.connect(self.download_selected)
        self.btn_pause.clicked.connect(lambda: self.stop(keep_partial=True))
        self.btn_cancel.clicked.connect(lambda: self.stop(keep_partial=False))
        self.btn_use.clicked.connect(self.use_selected)
        self.btn_local.clicked.connect(self.choose_local_files)
        self.btn_close.clicked.connect(self.close)
        self.first_run = first_run
        self._thread = QThread(self)
        self.worker = ModelsWorker(cfg, endpoint)
        self.worker.moveToThread(self._thread)
        self._list.connect(self.worker.list_models)
        self._download.connect(self.worker.download)
        self._use.connect(self.worker.use)
        self._local.connect(self.worker.use_local)
        self.worker.listed.connect(self._on_listed)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self._thread.start()
        self._update_buttons()
        self.refresh()

    # Requests ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._list.emit()

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def select(self, name: str) -> None:
        for i, r in enumerate(self.rows):
            if r["name"] == name:
                self.table.selectRow(i)

    def download_selected(self) -> None:
        row = self.selected()
        if row is None or self.busy:
            return
        self.busy = row["name"]
        self.bar.setValue(0)
        self.bar.setVisible(True)
        self.status.setText(f"Downloading {row['name']}…")
        self._update_buttons()
        self._download.emit(row["name"])

    def stop(self, keep_partial: bool) -> None:
        if self.busy:
            self.worker.keep_partial = keep_partial
            self.worker.cancel.set()

    def use_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self._use.emit(row["name"])

    def choose_local_files(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Models (*.gguf *.pt *.bin *.safetensors)")
        if path:
            self.status.setText(f"Checking {path}…")
            self._local.emit(path)
            self.localFilesChosen.emit(path)

    # Answers ----------------------------------------------------------------------------------
    def _on_listed(self, rows: list[dict[str, Any]], missing: list[dict[str, Any]]) -> None:
        keep = (self.selected() or {}).get("name")
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            r5 = f"{r['coco_image_r5']:.1f} %" if r.get("coco_image_r5") else ""
            mem = f"{r['memory_mb'] / 1000:.1f} GB" if r.get("memory_mb") else ""
            cells = (r["title"], "CLIP" if r["kind"] == "clip" else "VLM", f"{r['size_mb']} MB" if r["size_mb"] else "?",
                     mem, r.get("speed") or "", r5, r.get("languages") or "", state_text(r))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{r['name']}: {r.get('notes', '')}")
                self.table.setItem(i, j, item)
        if missing:
            m = missing[0]
            self.intro.setText(
                f"<b>Visual search is waiting for the CLIP model {m['name']}</b> (about {m['size_mb']} MB). "
                "Your folders are indexed already: text in pictures (OCR) and file names are searchable now. "
                "Download the model here, or use a checkpoint already on this computer; pictures then gain "
                "visual search in the background, without reading their text again.")
        else:
            self.intro.setText("The models this app uses. Nothing is downloaded until you press Download; "
                               "HF_ENDPOINT names a mirror, HF_HUB_OFFLINE=1 forbids downloads.")
        if keep:
            self.select(keep)
        elif missing:
            self.select(missing[0]["name"])
        self._update_buttons()

    def _on_progress(self, e: Any) -> None:
        self.bar.setValue(int(1000 * e.fraction))
        self.status.setText(progress_text(e))

    def _on_finished(self, name: str, kind: str) -> None:
        self.busy = ""
        self.bar.setValue(1000)
        self.status.setText(f"{name} is installed and checked." +
                            (" Visual search is being added to your pictures." if kind == "clip" else ""))
        self._update_buttons()
        self.downloaded.emit(name, kind)

    def _on_failed(self, name: str, message: str) -> None:
        self.busy = ""
        self.bar.setVisible(False)
        self.status.setText(message)
        self._update_buttons()

    def _update_buttons(self) -> None:
        row = self.selected()
        self.btn_download.setEnabled(bool(row) and not self.busy and not (row or {}).get("installed"))
        self.btn_pause.setEnabled(bool(self.busy))
        self.btn_cancel.setEnabled(bool(self.busy))
        self.btn_use.setEnabled(bool(row) and bool((row or {}).get("installed")) and not (row or {}).get("in_use"))

    def stop_worker(self) -> None:
        """Pause a download in flight and end the worker's thread (the window's shutdown)."""
        self.stop(keep_partial=True)
        self._thread.quit()
        self._thread.wait(30000)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.stop(keep_partial=True)  # the thread stays for a reopened page; shutdown ends it
        super().closeEvent(event)


def open_models_page(window: Any, first_run: bool = False) -> "ModelsDialog | None":
    """Show the window's one Models page (the first-run assistant opens by itself only once)."""
    dlg = getattr(window, "_models_dialog", None)
    if first_run:
        if getattr(window, "_models_assistant_shown", False):
            return dlg
        window._models_assistant_shown = True
    if dlg is not None:  # one page per window: its worker thread lives until the window's shutdown
        dlg.show()
        dlg.raise_()
        dlg.refresh()
        return dlg
    dlg = ModelsDialog(window.cfg, window, first_run=first_run)
    dlg.downloaded.connect(lambda _name, kind: window.models_arrived(kind))
    dlg.show()
    window._models_dialog = dlg
    return dlg
