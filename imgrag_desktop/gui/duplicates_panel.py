"""The Duplicates tab: groups of near-identical pictures (byte copies, resized, recompressed or
slightly cropped versions), the one to keep first.

Read-only by design: the tab opens, reveals and copies paths, and never deletes, moves or
renames a file; what to remove is the user's decision, made in their file manager. The
groups are computed by `duplicates.DuplicateFinder` on a worker thread; thumbnails come from
the shared on-disk thumbnail cache through the panel's own ImageLoader, so the results grid
refreshing never drops the panel's pending thumbnails.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QFont, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui.messages import MessageBridge, describe_exception
from imgrag_desktop.gui.result_model import human_date, human_size
from imgrag_desktop.gui.thumbnails import ImageLoader

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.gui.workers import EngineHost
    from imgrag_desktop.store.writers import DataDirWriter

DETAIL_COLUMNS = ["path", "size", "width", "height", "mtime_ns", "taken_at", "content_hash", "kind"]
PAGE = 30  # groups laid out at a time ("Show more" adds the next ones)
TILE = 164  # thumbnail side in the cards
PER_ROW = 6
PLACEHOLDER_STYLE = "background: rgba(128,128,128,40); border-radius: 4px;"


class DuplicatesWorker(QObject):
    """Fingerprints what lacks them, then groups; emits plain dicts for the panel."""

    progress = Signal(int, str)  # request id, what is being done
    done = Signal(int, object)  # request id, {"groups": [...], "images": n, "seconds": s, "notes": [...]}
    failed = Signal(int, str, str)  # request id, one line, details

    def __init__(self, host: "EngineHost", writes: "DataDirWriter | None" = None) -> None:
        super().__init__()
        self.host = host
        self.writes = writes

    @Slot(int, object, object)
    def run(self, req_id: int, where: str | None, cancel: threading.Event) -> None:
        if cancel.is_set():
            return
        t0 = time.monotonic()
        notes: list[str] = []
        try:
            from imgrag_desktop.search.duplicates import finder_for

            svc = self.host.services
            store = svc.store
            store.refresh()
            images = store.query(where, ["path"]).num_rows if where else store.count()
            self.progress.emit(req_id, f"Comparing {images:,} pictures…")
            finder = finder_for(svc)
            # Rows indexed before fingerprints existed get them now (a write to a side table):
            # only while no indexing job or watcher batch is writing, else after it.
            if self.writes is None or self.writes.lock.acquire(blocking=False):
                try:
                    def report(p: Any) -> None:
                        self.progress.emit(req_id, f"Fingerprinting older pictures {p.done:,}/{p.total:,}…")

                    finder.backfill(cancel.is_set, report)
                finally:
                    if self.writes is not None:
                        self.writes.lock.release()
            else:
                notes.append("pictures indexed by an older version are compared once indexing finishes")
            groups = finder.groups(where, cancel.is_set)
            if cancel.is_set():
                return
            paths = [p for g in groups for p in g.paths]
            rows = store.rows(paths, DETAIL_COLUMNS) if paths else {}
        except Exception as exc:
            if not cancel.is_set():
                self.failed.emit(req_id, *describe_exception(exc))
            return
        out = []
        for g in groups:
            members = []
            for p in g.paths:
                r = rows.get(p, {})
                members.append({"path": p, "size": int(r.get("size") or 0), "width": int(r.get("width") or 0),
                                "height": int(r.get("height") or 0), "date": r.get("taken_at") or (r.get("mtime_ns") or 0) / 1e9,
                                "chash": r.get("content_hash") or "", "kind": r.get("kind") or ""})
            out.append({"paths": list(g.paths), "score": float(g.score), "members": members})
        self.done.emit(req_id, {"groups": out, "images": images, "seconds": time.monotonic() - t0, "notes": notes})


class ImageTile(QFrame):
    """One picture of a group: thumbnail, facts, and what can be done with it (nothing destructive)."""

    def __init__(self, member: dict[str, Any], keeper: bool, panel: "DuplicatesPanel", exact: bool = False) -> None:
        super().__init__(panel)
        self.setObjectName("dup-keeper" if keeper else "dup-copy")
        self.path = member["path"]
        self.panel = panel
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(TILE + 30)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 6)
        lay.setSpacing(3)
        self.badge = QLabel("Keep" if keeper else "Identical file" if exact else "Copy", self)
        self.badge.setObjectName("dup-badge-keep" if keeper else "dup-badge-copy")
        self.badge.setToolTip("The one to keep: the largest picture (then the largest file, then the oldest)"
                              if keeper else "The same bytes as the first picture of this group" if exact else
                              "A near-identical copy of the first picture of this group (resized, recompressed, "
                              "cropped or retouched)")
        f = QFont(self.font())
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 0.9)
        self.badge.setFont(f)
        self.badge.setStyleSheet("color: #2b7a2b;" if keeper else "color: palette(placeholder-text);")
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(QSize(TILE, TILE))
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet(PLACEHOLDER_STYLE)
        self.thumb.setToolTip(self.path)
        name = QLabel(self)
        name.setText(name.fontMetrics().elidedText(os.path.basename(self.path), Qt.TextElideMode.ElideMiddle, TILE))
        name.setToolTip(self.path)
        dims = f"{member['width']}×{member['height']}" if member["width"] and member["height"] else "size unknown"
        facts = [dims, human_size(member["size"]) if member["size"] else ""]
        self.facts = QLabel(" · ".join(x for x in facts if x), self)
        self.date = QLabel(human_date(member["date"]), self)
        folder = QLabel(self)
        folder.setText(folder.fontMetrics().elidedText(os.path.dirname(self.path), Qt.TextElideMode.ElideMiddle, TILE))
        folder.setToolTip(os.path.dirname(self.path))
        for w in (self.facts, self.date, folder):
            w.setForegroundRole(w.foregroundRole())
            small = QFont(w.font())
            small.setPointSizeF(small.pointSizeF() * 0.9)
            w.setFont(small)
        folder.setStyleSheet("color: palette(placeholder-text);")
        buttons = QHBoxLayout()
        buttons.setSpacing(0)
        buttons.setContentsMargins(0, 0, 0, 0)
        self.open_button = self._button("Open", "Open in the default viewer", lambda: panel.openRequested.emit(self.path))
        self.reveal_button = self._button("Show", "Show in folder (the file manager, with the file selected)",
                                          lambda: panel.revealRequested.emit(self.path))
        self.copy_button = self._button("Copy path", "Copy the file's path", lambda: panel.copy_path(self.path))
        for b in (self.open_button, self.reveal_button, self.copy_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for w in (self.badge, self.thumb, name, self.facts, self.date, folder):
            lay.addWidget(w)
        lay.addLayout(buttons)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.set_thumbnail(panel.loader.thumbnail(self.path))
        if panel.loader.thumbnail(self.path) is None:
            panel.loader.request_thumbnail(self.path, member.get("chash", ""))

    def _button(self, text: str, tip: str, slot: Callable[[], Any]) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.setStyleSheet("QToolButton { padding: 2px 3px; }")  # three fit under one thumbnail
        b.clicked.connect(slot)
        return b

    def actions(self) -> dict[str, Callable[[], Any]]:
        """What the tile's buttons and right-click menu offer (tests call these)."""
        p = self.panel
        return {"Open": lambda: p.openRequested.emit(self.path), "Show in folder": lambda: p.revealRequested.emit(self.path),
                "Copy path": lambda: p.copy_path(self.path)}

    def _menu(self, pos: Any) -> None:
        menu = QMenu(self)
        for text, fn in self.actions().items():
            menu.addAction(text, fn)
        self.panel._last_menu = menu
        menu.popup(self.mapToGlobal(pos))

    def mouseDoubleClickEvent(self, event: Any) -> None:
        self.panel.openRequested.emit(self.path)

    def set_thumbnail(self, pix: QPixmap | None) -> None:
        if pix is None or pix.isNull():
            return
        self.thumb.setStyleSheet("")
        self.thumb.setPixmap(pix.scaled(TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation))

    def has_thumbnail(self) -> bool:
        pix = self.thumb.pixmap()
        return pix is not None and not pix.isNull()


class GroupCard(QFrame):
    def __init__(self, number: int, group: dict[str, Any], panel: "DuplicatesPanel") -> None:
        super().__init__(panel)
        self.setObjectName("dup-group")
        self.group = group
        self.setFrameShape(QFrame.Shape.NoFrame)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 10)
        lay.setSpacing(6)
        members = group["members"]
        extra = sum(m["size"] for m in members[1:])
        score = group["score"]
        match = "identical files" if score >= 0.9999 and len({m["chash"] for m in members}) == 1 else f"match {score:.2f}"
        head = QLabel(f"<b>Group {number}</b> · {len(members)} pictures · "
                      f"{human_size(extra) if extra else 'no'} in copies · {match}", self)
        head.setToolTip("Match: how closely the least similar pair of this group lines up (1.0 = identical)")
        lay.addWidget(head)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(8)
        keeper_hash = members[0]["chash"]
        self.tiles = [ImageTile(m, i == 0, panel, exact=bool(keeper_hash) and m["chash"] == keeper_hash)
                      for i, m in enumerate(members)]
        for i, t in enumerate(self.tiles):
            grid.addWidget(t, i // PER_ROW, i % PER_ROW)
        grid.setColumnStretch(PER_ROW, 1)
        lay.addLayout(grid)


class DuplicatesPanel(QWidget):
    """A tab listing near-duplicate groups; `refresh()` recomputes them in the background."""

    openRequested = Signal(str)
    revealRequested = Signal(str)
    computeRequested = Signal(int, object, object)  # to the worker: request id, where, cancel event
    groupsShown = Signal(object)  # {"groups": n, "images": n, ...} once a list is laid out

    def __init__(self, host: "EngineHost", thumbs_dir: str | os.PathLike[str], bridge: MessageBridge,
                 where: Callable[[], str | None] = lambda: None, scope: Callable[[], str] = lambda: "",
                 writes: "DataDirWriter | None" = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("duplicates-panel")
        self.bridge = bridge
        self._where = where
        self._scope = scope
        self.loader = ImageLoader(thumbs_dir, threads=1, cache_mb=32, parent=self)
        self.loader.thumbnailReady.connect(self._on_thumbnail)
        self._req = 0
        self._cancel = threading.Event()
        self._groups: list[dict[str, Any]] = []
        self._shown = 0
        self.cards: list[GroupCard] = []
        self.computed = False
        self.computing = False
        self.stale = False
        self._last_menu: QMenu | None = None
        self._build()
        self.thread = QThread(self)
        self.thread.setObjectName("imgrag-duplicates")
        self.worker = DuplicatesWorker(host, writes)
        self.worker.moveToThread(self.thread)
        self.thread.finished.connect(self.worker.deleteLater)
        self.computeRequested.connect(self.worker.run)
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.thread.start()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 0)
        outer.setSpacing(6)
        top = QHBoxLayout()
        title = QLabel("Near-duplicates", self)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        title.setFont(f)
        self.summary = QLabel(self)
        self.summary.setObjectName("dup-summary")
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip("Look for near-duplicates again (in the folder selected on the left)")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        outer.addLayout(top)
        self.explain = QLabel(
            "Copies of the same picture: identical files, and resized, recompressed or slightly cropped versions. "
            "The first of each group is the one to keep (the largest picture). Nothing is deleted here: open or "
            "show a file to decide for yourself.", self)
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: palette(placeholder-text);")
        outer.addWidget(self.explain)
        busy = QHBoxLayout()
        self.busy_label = QLabel(self)
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(160)
        self.busy_bar.setTextVisible(False)
        busy.addWidget(self.busy_label)
        busy.addWidget(self.busy_bar)
        busy.addStretch(1)
        self.busy_row = QWidget(self)
        self.busy_row.setLayout(busy)
        self.busy_row.hide()
        outer.addWidget(self.busy_row)
        self.stale_label = QLabel("The index changed since this list was made: press Refresh to update it.", self)
        self.stale_label.setStyleSheet("color: #b36b00;")
        self.stale_label.hide()
        outer.addWidget(self.stale_label)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.body = QWidget(self.scroll)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 12)
        self.body_layout.setSpacing(0)
        self.empty = QLabel(self.body)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setMinimumHeight(120)
        self.empty.setStyleSheet("color: palette(placeholder-text);")
        self.empty.setText("Near-duplicates are looked for when this tab opens.")
        self.body_layout.addWidget(self.empty)
        self.more_button = QPushButton(self.body)
        self.more_button.clicked.connect(self._show_more)
        self.more_button.hide()
        self.body_layout.addStretch(1)
        self.body_layout.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.scroll.setWidget(self.body)
        outer.addWidget(self.scroll, 1)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    # Computing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute in the background (a running computation is abandoned)."""
        self._cancel.set()
        self._cancel = threading.Event()
        self._req += 1
        self.computing = True
        self.stale = False
        self.stale_label.hide()
        self.refresh_button.setEnabled(False)
        self.busy_label.setText("Looking for near-duplicates…")
        self.busy_row.show()
        self.computeRequested.emit(self._req, self._where(), self._cancel)

    def ensure_computed(self) -> None:
        if not self.computed and not self.computing:
            self.refresh()

    def mark_stale(self) -> None:
        """The index changed: say so (recomputing is the user's call, the list does not jump)."""
        if self.computed and not self.computing:
            self.stale = True
            self.stale_label.show()

    @property
    def busy(self) -> bool:
        return self.computing or self.loader.busy

    @Slot(int, str)
    def _on_progress(self, req_id: int, text: str) -> None:
        if req_id == self._req:
            self.busy_label.setText(text)

    @Slot(int, object)
    def _on_done(self, req_id: int, result: dict[str, Any]) -> None:
        if req_id != self._req:
            return
        self.computing = False
        self.computed = True
        self.refresh_button.setEnabled(True)
        self.busy_row.hide()
        self._groups = result["groups"]
        self._clear_cards()
        groups = self._groups
        images = int(result.get("images", 0))
        copies = sum(len(g["members"]) - 1 for g in groups)
        space = sum(m["size"] for g in groups for m in g["members"][1:])
        scope = self._scope()
        where = f" in {os.path.basename(scope.rstrip(os.sep)) or scope}" if scope else ""
        if groups:
            self.summary.setText(f"{len(groups)} group{'s' if len(groups) != 1 else ''}, {copies} extra "
                                 f"cop{'ies' if copies != 1 else 'y'} taking {human_size(space)}, among {images:,} "
                                 f"images{where}")
            self.empty.hide()
        else:
            self.summary.setText(f"none among {images:,} images{where}")
            self.empty.setText(f"No near-duplicates among the {images:,} indexed images{where}."
                               if images else "Nothing is indexed yet: add a folder first.")
            self.empty.show()
        for note in result.get("notes", []):
            self.bridge.info(note)
        self._show_more()
        self.groupsShown.emit({"groups": len(groups), "images": images, "copies": copies,
                               "seconds": result.get("seconds", 0.0)})

    @Slot(int, str, str)
    def _on_failed(self, req_id: int, text: str, details: str) -> None:
        if req_id != self._req:
            return
        self.computing = False
        self.refresh_button.setEnabled(True)
        self.busy_row.hide()
        self._clear_cards()
        self.summary.setText("")
        self.empty.setText("Near-duplicates could not be listed: " + text)
        self.empty.show()
        self.bridge.error(text, details)

    # Layout ---------------------------------------------------------------------------------
    def _clear_cards(self) -> None:
        for card in self.cards:
            self.body_layout.removeWidget(card)
            card.deleteLater()
        self.cards = []
        self._shown = 0
        self.loader.forget_queue()

    def _show_more(self) -> None:
        start = self._shown
        end = min(len(self._groups), start + PAGE)
        for i in range(start, end):
            card = GroupCard(i + 1, self._groups[i], self)
            self.body_layout.insertWidget(self.body_layout.count() - 2, card)
            self.cards.append(card)
        self._shown = end
        rest = len(self._groups) - end
        self.more_button.setText(f"Show {min(PAGE, rest)} more groups ({rest} left)")
        self.more_button.setVisible(rest > 0)

    def tiles(self) -> list[ImageTile]:
        return [t for c in self.cards for t in c.tiles]

    def _on_thumbnail(self, path: str) -> None:
        pix = self.loader.thumbnail(path)
        for t in self.tiles():
            if t.path == path:
                t.set_thumbnail(pix)

    def copy_path(self, path: str) -> None:
        QGuiApplication.clipboard().setText(path)
        self.bridge.info(f"copied {path}")

    # Lifetime -------------------------------------------------------------------------------
    def shutdown(self, wait_ms: int = 60_000) -> bool:
        self._cancel.set()
        self.loader.shutdown()
        self.thread.quit()
        return bool(self.thread.wait(wait_ms))
