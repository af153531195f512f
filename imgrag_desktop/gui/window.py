"""The main window: search bar, results grid, preview, folders, indexing progress.

Every engine call goes to a worker (workers.py) through a queued signal and comes back as a
signal, so the GUI thread only lays out widgets and paints. The central area is a tab widget
whose tab bar appears once a second panel (such as Ask) is added with `add_panel`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QItemSelectionModel, QMimeData, QModelIndex, QProcess, Qt, QThread, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeyEvent,
    QKeySequence, QPixmap,
)
from PySide6.QtWidgets import (
    QComboBox, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel, QLineEdit, QMainWindow, QMenu, QProgressBar,
    QPushButton, QSizePolicy, QSlider, QSplitter, QStackedWidget, QTabWidget, QToolButton, QVBoxLayout, QWidget,
)

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui import dialogs
from imgrag_desktop.gui.actions import build_actions, show_shortcuts as shortcuts_dialog
from imgrag_desktop.gui.ask_panel import AskPanel
from imgrag_desktop.gui.duplicates_panel import DuplicatesPanel
from imgrag_desktop.gui.errors_panel import ErrorsPanel
from imgrag_desktop.gui.filters import FilterBar
from imgrag_desktop.gui.folders import FoldersPanel
from imgrag_desktop.gui.messages import Message, MessageBridge
from imgrag_desktop.gui.result_model import ResultsModel
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.results_view import ResultsView
from imgrag_desktop.gui.settings_dialog import SettingsDialog
from imgrag_desktop.config import remember_data_dir
from imgrag_desktop.gui.state import gui_state, save_settings
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.watch_status import WatchStatus
from imgrag_desktop.gui.watching import DataDirWriter
from imgrag_desktop.gui.workers import EngineHost, IndexJob, IndexWorker, QueryWorker, Request, RequestGate, ResultItem

SEARCH_DELAY_MS = 350
SEARCH_PLACEHOLDER = "Search your images: describe what you see, or drop / paste an image"
WATCH_RETRY_MS = 15_000  # another process holds the writer lock: try to watch again this often
MODE_LABELS = {"hybrid": "Hybrid", "visual": "Visual", "textual": "Text in image", "keyword": "Keyword"}
MODE_TIPS = {
    "hybrid": "Combine what the image looks like with the text read from it",
    "visual": "Match what the image looks like (CLIP)",
    "textual": "Match the meaning of text read from the image (OCR, captions)",
    "keyword": "Match exact words in file names, OCR text and captions",
}


def _clipboard_has_image(mime: QMimeData | None) -> bool:
    if mime is None:
        return False
    return mime.hasImage() or any(u.isLocalFile() for u in mime.urls())


class SearchEdit(QLineEdit):
    """The search field; Ctrl+V with an image (or image file) on the clipboard searches by it."""

    pasteImage = Signal()
    downPressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste) and _clipboard_has_image(QGuiApplication.clipboard().mimeData()):
            self.pasteImage.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Down:
            self.downPressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class GridView(ResultsView):
    """The results grid, plus Enter for the preview (double-click opens the file)."""

    previewRequested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.previewRequested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def reveal_in_file_manager(path: str, open_url: Callable[[QUrl], Any], parent: Any = None) -> None:
    """Show the file selected in the platform's file manager; where that is not possible, open
    its folder. Runs asynchronously: a slow or missing file manager never freezes the window."""
    folder = QUrl.fromLocalFile(os.path.dirname(path))
    if sys.platform == "darwin":
        program, args = "open", ["-R", path]
    elif sys.platform == "win32":
        program, args = "explorer", ["/select,", os.path.normpath(path)]
    elif os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        program, args = "dbus-send", [
            "--session", "--print-reply", "--reply-timeout=3000", "--dest=org.freedesktop.FileManager1",
            "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
            f"array:string:{QUrl.fromLocalFile(path).toString()}", "string:"]
    else:
        open_url(folder)
        return
    proc = QProcess(parent)

    def done(code: int = 1, *_: Any) -> None:
        if code != 0 and sys.platform != "win32":  # explorer /select exits 1 even when it worked
            open_url(folder)
        proc.deleteLater()

    proc.finished.connect(done)
    proc.errorOccurred.connect(lambda *_: done(1))
    proc.start(program, args)


class MainWindow(QMainWindow):
    watch_retry_ms = WATCH_RETRY_MS  # another process writes: try to watch again after this long
    # Requests to the workers (queued across threads).
    searchRequested = Signal(int, object)
    warmUpRequested = Signal()
    statsRequested = Signal()
    detailsRequested = Signal(str)
    failuresRequested = Signal()
    resetModelsRequested = Signal()
    indexRequested = Signal(object)
    # What happened, for automation, tests and future panels.
    shown = Signal()
    engineReady = Signal(object)
    resultsShown = Signal(object)
    searchFailed = Signal(str)
    indexStarted = Signal(object)
    indexProgress = Signal(object)
    indexFinished = Signal(object)
    indexFailed = Signal(str)
    watchEvent = Signal(object)  # a WatchEvent the window handled (tests and automation listen)
    watchStateChanged = Signal(str)  # off | starting | running | failed

    def __init__(self, cfg: AppConfig, bridge: MessageBridge | None = None, host: EngineHost | None = None,
                 open_url: Callable[[QUrl], Any] | None = None, reveal: Callable[[str], Any] | None = None,
                 start_engine: bool = True, watch_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.writes = DataDirWriter(cfg.lock_file)  # shared by indexing jobs and the folder watcher
        self.watch_options = dict(watch_options or {})  # WatchService timing options (tests shorten them)
        self.state = gui_state(cfg)
        self.bridge = bridge or MessageBridge(self)
        self.host = host or EngineHost(cfg)
        self.open_url = open_url or QDesktopServices.openUrl
        self.reveal = reveal or (lambda p: reveal_in_file_manager(p, self.open_url, self))
        self.gate = RequestGate()
        self._start_engine = start_engine
        self._was_shown = False
        self._ready = False
        self._model_error = ""
        self._modes: list[str] = []
        self._stats: dict[str, int] = {"images": 0, "failed": 0}
        self._current: Request | None = None
        self._pending_id = 0
        self._shown_id = 0
        self._jobs: list[IndexJob] = []
        self._job: IndexJob | None = None
        self._paused = False
        self._removed_folders: set[str] = set()
        self._last_live_refresh = 0.0
        self._open_boxes: dict[str, Any] = {}
        self._closing = False
        self._chip_path = ""
        self._similar_image: Any = None  # the image of the "Looks like" chip: a path or a QImage
        self._similar_name = ""
        self._no_match: tuple[str, str, bool, bool] | None = None  # title, text, show-weaker, clear-filters
        self.errors_panel: ErrorsPanel | None = None
        self.setWindowTitle("imgrag-desktop" + (" — test profile" if cfg.profile == "test" else ""))
        self.setAcceptDrops(True)
        self.loader = ImageLoader(cfg.thumbs_dir, threads=2, parent=self)
        self.model = ResultsModel(self.loader, self)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self._apply_filters)
        self._build_ui()
        self._build_ask_panel()
        self._build_duplicates_panel()
        self._build_actions()
        self._build_workers()
        self.bridge.message.connect(self._on_message)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.search_now)
        self._restore_state()
        self.folders_panel.set_folders(self.cfg.settings.folders)
        self._update_page()

    # UI -------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.resize(1280, 820)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)
        self.setCentralWidget(self.tabs)

        page = QWidget(self)
        v = QVBoxLayout(page)
        v.setContentsMargins(10, 10, 10, 0)
        v.setSpacing(8)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.search_edit = SearchEdit(page)
        self.search_edit.setObjectName("search")
        self.search_edit.setAccessibleName("Search")
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAcceptDrops(False)  # a dropped file means "find look-alikes", handled by the window
        self.search_edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.search_edit, 1)
        self.similar_chip = QFrame(page)
        self.similar_chip.setObjectName("similar-chip")
        self.similar_chip.setFrameShape(QFrame.Shape.StyledPanel)
        chip = QHBoxLayout(self.similar_chip)
        chip.setContentsMargins(6, 2, 2, 2)
        chip.setSpacing(4)
        self.similar_icon = QLabel(self.similar_chip)
        self.similar_label = QLabel(self.similar_chip)
        self.similar_close = QToolButton(self.similar_chip)
        self.similar_close.setText("✕")
        self.similar_close.setAutoRaise(True)
        self.similar_close.setToolTip("Back to browsing (Esc)")
        chip.addWidget(self.similar_icon)
        chip.addWidget(self.similar_label)
        chip.addWidget(self.similar_close)
        self.similar_chip.hide()
        row.addWidget(self.similar_chip)
        self.mode_combo = QComboBox(page)
        self.mode_combo.setToolTip("Search mode")
        self.mode_combo.setAccessibleName("Search mode")
        self.mode_combo.setEnabled(False)
        self.mode_combo.setMinimumContentsLength(12)
        row.addWidget(self.mode_combo)
        self.filters_button = QToolButton(page)
        self.filters_button.setObjectName("filters-toggle")
        self.filters_button.setText("Filters")
        self.filters_button.setCheckable(True)
        self.filters_button.setToolTip("Show the filters: kind, shape, date, size, camera, relevance (Ctrl+Shift+F)")
        row.addWidget(self.filters_button)
        self.size_slider = QSlider(Qt.Orientation.Horizontal, page)
        self.size_slider.setRange(100, 360)
        self.size_slider.setSingleStep(20)
        self.size_slider.setPageStep(40)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Thumbnail size (Ctrl++ / Ctrl+-)")
        self.size_slider.setAccessibleName("Thumbnail size")
        row.addWidget(self.size_slider)
        v.addLayout(row)
        self.filter_bar = FilterBar(page)
        self.filter_bar.setVisible(False)
        self.filter_bar.set_cutoff(self.cfg.settings.min_score)
        v.addWidget(self.filter_bar)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, page)
        self.splitter.setChildrenCollapsible(False)
        self.stack = QStackedWidget(self.splitter)
        self.welcome = self._build_welcome()
        self.stack.addWidget(self.welcome)
        self.view = GridView(self.stack, thumb_size=int(self.state.get("thumb_size", 160)))
        self.view.setModel(self.model)
        self.view.setAccessibleName("Results")
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.stack.addWidget(self.view)
        self.no_match = self._build_no_match()
        self.stack.addWidget(self.no_match)
        self.preview = PreviewPanel(self.splitter)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        v.addWidget(self.splitter, 1)
        self.tabs.addTab(page, "Search")
        self.search_page = page
        self.size_slider.setValue(self.view.thumb_size)

        self.folders_panel = FoldersPanel(self)
        self.folders_dock = QDockWidget("Folders", self)
        self.folders_dock.setObjectName("folders-dock")
        self.folders_dock.setWidget(self.folders_panel)
        self.folders_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                      | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.folders_dock)

        sb = self.statusBar()
        sb.setSizeGripEnabled(True)
        self.progress_box = QWidget(self)
        pl = QHBoxLayout(self.progress_box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(6)
        self.progress_label = QLabel(self.progress_box)
        self.progress_current = QLabel(self.progress_box)
        self.progress_current.setMinimumWidth(80)
        self.progress_current.setMaximumWidth(300)
        self.progress_bar = QProgressBar(self.progress_box)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(True)
        self.pause_button = QToolButton(self.progress_box)
        self.pause_button.setText("Pause")
        self.pause_button.setToolTip("Pause indexing (searching keeps working)")
        self.cancel_button = QToolButton(self.progress_box)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop indexing; what is done so far stays in the index")
        for w in (self.progress_label, self.progress_current, self.progress_bar, self.pause_button, self.cancel_button):
            pl.addWidget(w)
        self.progress_box.hide()
        sb.addPermanentWidget(self.progress_box)
        self.problems_button = QToolButton(self)
        self.problems_button.setAutoRaise(True)
        self.problems_button.setToolTip("Files that could not be indexed, and errors (Ctrl+E)")
        self.problems_button.hide()
        sb.addPermanentWidget(self.problems_button)
        self.watching = WatchStatus(self.host, self.writes, self.watch_options, folders=lambda: self.cfg.settings.folders,
                                    panel=self.folders_panel, bridge=self.bridge, status_bar=sb, loader=self.loader,
                                    retry_ms=lambda: self.watch_retry_ms, parent=self)
        self.watch_label = self.watching.label
        sb.addPermanentWidget(self.watch_label)
        self.count_label = QLabel(self)
        sb.addPermanentWidget(self.count_label)

        # Wiring that does not involve the workers.
        self.search_edit.textEdited.connect(self._on_text_edited)
        self.search_edit.returnPressed.connect(self.search_now)
        self.search_edit.pasteImage.connect(self.paste)
        self.search_edit.downPressed.connect(self._focus_grid)
        self.similar_close.clicked.connect(self.clear_search)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.size_slider.valueChanged.connect(self._on_thumb_size)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.doubleClicked.connect(lambda idx: self.open_path(self._path_at(idx)))
        self.view.previewRequested.connect(self.show_preview_of_current)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.preview.openRequested.connect(self.open_path)
        self.preview.revealRequested.connect(self.reveal_path)
        self.preview.similarRequested.connect(self.find_similar)
        self.loader.thumbnailReady.connect(self._on_thumbnail)
        self.loader.imageReady.connect(self.preview.set_image)
        self.folders_panel.addRequested.connect(self.add_folder_dialog)
        self.folders_panel.removeRequested.connect(self.remove_folder)
        self.folders_panel.rescanRequested.connect(self.rescan)
        self.folders_panel.folderSelected.connect(self._on_folder_selected)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel_indexing)
        self.problems_button.clicked.connect(self.show_errors_panel)
        self.filters_button.toggled.connect(self._set_filters_visible)
        self.filter_bar.changed.connect(self._filter_timer.start)
        self.filter_bar.cutoffChanged.connect(self.set_min_score)

    def _build_welcome(self) -> QWidget:
        w = QWidget(self)
        outer = QVBoxLayout(w)
        outer.addStretch(2)
        title = QLabel("Find any photo or screenshot by describing it", w)
        title.setObjectName("welcome-title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)  # never forces a minimum window width
        text = QLabel(
            "imgrag-desktop indexes folders on this computer and searches them offline: nothing leaves your machine.\n"
            "Add a folder of photos or screenshots to begin. Later, drop or paste an image here to find look-alikes.",
            w)
        text.setObjectName("welcome-text")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        self.welcome_button = QPushButton("Add a folder…", w)
        self.welcome_button.setObjectName("welcome-add")
        self.welcome_button.clicked.connect(self.add_folder_dialog)
        outer.addWidget(title)
        outer.addSpacing(10)
        outer.addWidget(text)
        outer.addSpacing(18)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.welcome_button)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(3)
        return w

    def _build_no_match(self) -> QWidget:
        """The friendly empty state when the cut-off or the filters hid every result."""
        w = QWidget(self)
        w.setObjectName("no-match")
        w.setMinimumWidth(110)  # never widens the window (the stack takes its pages' largest minimum)
        outer = QVBoxLayout(w)
        outer.addStretch(2)
        self.no_match_title = QLabel(w)
        self.no_match_title.setObjectName("welcome-title")
        self.no_match_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_match_title.setWordWrap(True)
        self.no_match_text = QLabel(w)
        self.no_match_text.setObjectName("welcome-text")
        self.no_match_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_match_text.setWordWrap(True)
        self.show_weaker_button = QPushButton("Show weaker matches", w)
        self.show_weaker_button.setToolTip("Run this search once more without the relevance cut-off")
        self.show_weaker_button.clicked.connect(self.show_weaker_matches)
        self.clear_filters_button = QPushButton("Clear filters", w)
        self.clear_filters_button.clicked.connect(self.filter_bar.clear)
        outer.addWidget(self.no_match_title)
        outer.addSpacing(8)
        outer.addWidget(self.no_match_text)
        outer.addSpacing(14)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.show_weaker_button)
        row.addWidget(self.clear_filters_button)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(3)
        return w

    def _build_duplicates_panel(self) -> None:
        """The Duplicates tab: near-identical pictures, grouped, keeper first (read-only)."""
        self.dups_panel = DuplicatesPanel(self.host, self.cfg.thumbs_dir, self.bridge, where=self._folder_where,
                                          scope=self._folder, writes=self.writes, parent=self)
        self.dups_index = self.add_panel(self.dups_panel, "Duplicates")
        self.tabs.setTabToolTip(self.dups_index, "Near-identical copies of the same picture (Ctrl+D)")
        self.dups_panel.openRequested.connect(self.open_path)
        self.dups_panel.revealRequested.connect(self.reveal_path)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _folder_where(self) -> str | None:
        return Request("browse", folder=self._folder()).where()

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.dups_panel:
            self.dups_panel.ensure_computed()

    def show_duplicates(self) -> None:
        self.tabs.setCurrentWidget(self.dups_panel)

    def _build_ask_panel(self) -> None:
        """The Ask tab: questions answered by the local model, with the pictures it cites."""
        self.ask_panel = AskPanel(self.host, self.loader, self.bridge, self.state, folder=self._folder,
                                  filters=lambda: self.filter_bar.filters(), parent=self)
        self.ask_index = self.add_panel(self.ask_panel, "Ask")
        self.tabs.setTabToolTip(self.ask_index, "Ask the local model about your pictures (Ctrl+K)")
        self.ask_panel.openRequested.connect(self.open_path)
        self.ask_panel.revealRequested.connect(self.reveal_path)
        self.ask_panel.similarRequested.connect(self._similar_from_panel)
        self.ask_panel.settingsRequested.connect(self.open_settings)

    def _similar_from_panel(self, path: str) -> None:
        self.tabs.setCurrentWidget(self.search_page)
        self.find_similar(path)

    def focus_ask(self) -> None:
        self.tabs.setCurrentWidget(self.ask_panel)
        self.ask_panel.focus_question()

    def _build_actions(self) -> None:
        self.actions_by_name = build_actions(self, self.folders_dock.toggleViewAction())
        self.act_preview.setChecked(bool(self.state.get("show_preview", True)))
        self.act_clear.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

    def open_current(self) -> None:
        self.open_path(self._current_path())

    def larger_thumbnails(self) -> None:
        self.size_slider.setValue(self.size_slider.value() + 30)

    def smaller_thumbnails(self) -> None:
        self.size_slider.setValue(self.size_slider.value() - 30)

    def add_panel(self, widget: QWidget, title: str) -> int:
        """Add a panel beside Search (the tab bar appears once there are two)."""
        return self.tabs.addTab(widget, title)

    # Workers --------------------------------------------------------------------------------
    def _build_workers(self) -> None:
        self.query_thread = QThread(self)
        self.query_thread.setObjectName("imgrag-query")
        self.query_worker = QueryWorker(self.host, self.gate)
        self.query_worker.moveToThread(self.query_thread)
        self.query_thread.finished.connect(self.query_worker.deleteLater)
        self.index_thread = QThread(self)
        self.index_thread.setObjectName("imgrag-index")
        self.index_worker = IndexWorker(self.host, writes=self.writes)
        self.index_worker.moveToThread(self.index_thread)
        self.index_thread.finished.connect(self.index_worker.deleteLater)

        qw, iw = self.query_worker, self.index_worker
        self.searchRequested.connect(qw.run)
        self.warmUpRequested.connect(qw.warm_up)
        self.statsRequested.connect(qw.refresh_stats)
        self.detailsRequested.connect(qw.load_details)
        self.failuresRequested.connect(qw.load_failures)
        self.resetModelsRequested.connect(qw.reset_models)
        qw.stats.connect(self._on_stats)
        qw.ready.connect(self._on_ready)
        qw.modelFailed.connect(self._on_model_failed)
        qw.results.connect(self._on_results)
        qw.failed.connect(self._on_search_failed)
        qw.details.connect(self.preview.set_details)
        qw.failures.connect(self._on_failures)
        self.indexRequested.connect(iw.run)
        iw.started.connect(self._on_index_started)
        iw.progress.connect(self._on_index_progress)
        iw.finished.connect(self._on_index_finished)
        iw.failed.connect(self._on_index_failed)
        self.query_thread.start()
        self.index_thread.start()

        w = self.watching
        self.watch_thread, self.watch_ctl = w.thread, w.ctl
        w.stateChanged.connect(self.watchStateChanged)
        w.eventHandled.connect(self.watchEvent)
        w.changesIndexed.connect(self._after_watch_changes)
        w.removalReady.connect(self._enqueue)

    def start(self) -> None:
        """Begin background work: open the index, load the model, bring folders up to date."""
        if not self._start_engine:
            return
        self._start_engine = False
        self.statusBar().showMessage("Opening the index and loading the image model…")
        self.warmUpRequested.emit()
        if self._current is None:  # a query asked for before the start (an image to match) wins
            self.browse()
        if self.state.get("rescan_on_start", True) and self.cfg.settings.folders:
            self.rescan()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._was_shown:
            self._was_shown = True
            if not self.state.get("window_state") or not self.state.get("splitter"):
                QTimer.singleShot(0, self._first_layout)
            self.shown.emit()
            QTimer.singleShot(0, self.start)

    def _first_layout(self) -> None:
        """Proportions for a first start (later starts restore the user's own)."""
        if not self.state.get("window_state"):
            self.resizeDocks([self.folders_dock], [200], Qt.Orientation.Horizontal)
        if not self.state.get("splitter"):
            total = max(600, self.splitter.width())
            self.splitter.setSizes([total - 340, 340])

    # Searching ------------------------------------------------------------------------------
    def _folder(self) -> str:
        return self.folders_panel.selected()

    def _on_text_edited(self, text: str) -> None:
        # With a "Looks like" image active, typed words steer its look-alikes (a combined query).
        self._search_timer.start()

    def search_now(self) -> None:
        self._search_timer.stop()
        text = self.search_edit.text().strip()
        if self._similar_image is not None and not self.similar_chip.isHidden():
            label = f"images like {self._similar_name}" + (f" + “{text}”" if text else "")
            self._submit(Request("similar", image=self._similar_image, text=text,
                                 k=int(self.state.get("results_limit", 500)), folder=self._folder(), label=label))
            return
        if not text:
            self.browse()
            return
        self._hide_chip()
        self._submit(Request("text", text=text, k=int(self.state.get("results_limit", 500)), mode=self._mode(),
                             folder=self._folder(), label=f"“{text}”"))

    def search(self, text: str) -> None:
        """Type a query and search at once (automation, and the positional-argument start)."""
        self.search_edit.setText(text)
        self.search_now()

    def browse(self) -> None:
        self._submit(Request("browse", k=int(self.state.get("browse_limit", 10_000)), folder=self._folder(),
                             label="all images"))

    def find_similar(self, path: str) -> None:
        if not path:
            return
        path = os.path.abspath(path)
        self._search_timer.stop()
        self.search_edit.clear()
        self._chip_path = path
        self._similar_image, self._similar_name = path, os.path.basename(path)
        self._show_chip(os.path.basename(path), self.loader.thumbnail(path))
        if self.loader.thumbnail(path) is None:
            self.loader.request_thumbnail(path)
        self._submit(Request("similar", image=path, k=int(self.state.get("results_limit", 500)), folder=self._folder(),
                             label=f"images like {os.path.basename(path)}"))

    def find_similar_image(self, image: QImage, label: str = "the pasted image") -> None:
        if image.isNull():
            self.bridge.warning("the clipboard image is empty")
            return
        self._search_timer.stop()
        self.search_edit.clear()
        self._chip_path = ""
        self._similar_image, self._similar_name = image, label
        self._show_chip(label, QPixmap.fromImage(image.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                                                               Qt.TransformationMode.FastTransformation)))
        self._submit(Request("similar", image=image, k=int(self.state.get("results_limit", 500)), folder=self._folder(),
                             label=f"images like {label}"))

    def _show_chip(self, label: str, pix: QPixmap | None) -> None:
        self.similar_label.setText(f"Looks like: {label}")
        if pix is not None and not pix.isNull():
            self.similar_icon.setPixmap(pix.scaled(24, 24, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                   Qt.TransformationMode.SmoothTransformation))
            self.similar_icon.show()
        else:
            self.similar_icon.hide()
        self.similar_chip.show()
        self.search_edit.setPlaceholderText("Refine with words: “at night”, “-people”")

    def _hide_chip(self) -> None:
        self.similar_chip.hide()
        self._similar_image = None
        self._similar_name = ""
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)

    def clear_search(self) -> None:
        self._search_timer.stop()
        self.search_edit.clear()
        self._hide_chip()
        self.browse()
        self.search_edit.setFocus()

    def rerun(self, refresh: bool = False) -> None:
        """Run the current query again: the index, the folder or the filters changed. With
        `refresh` (the index changed under the same query) the selection stays where it was."""
        req = self._current
        if req is None:
            self.browse()
            return
        self._submit(replace(req, folder=self._folder(), refresh=refresh,
                             min_score=req.min_score if refresh else "auto"))

    def show_weaker_matches(self) -> None:
        """The empty state's button: this query once more, without the relevance cut-off."""
        req = self._current
        if req is not None and req.kind != "browse":
            self._submit(replace(req, min_score="off", refresh=False))

    def _submit(self, req: Request) -> None:
        req.filters = self.filter_bar.filters()
        self._current = req
        self._pending_id = self.gate.next()
        if req.kind != "browse":
            self.statusBar().showMessage(f"Searching {req.label}…")
        self.searchRequested.emit(self._pending_id, req)

    def _mode(self) -> str:
        data = self.mode_combo.currentData()
        return str(data) if data else (self.cfg.settings.search_mode or "hybrid")

    @Slot(int, object, object)
    def _on_results(self, req_id: int, items: list[ResultItem], info: dict[str, Any]) -> None:
        if req_id != self._pending_id:
            return
        self._shown_id = req_id
        kind = info.get("kind")
        keep = self.preview.current_path() if kind == "browse" or info.get("refresh") else ""
        self.model.set_items(items, show_scores=kind != "browse")
        n = len(items)
        self._no_match = None
        if n == 0 and (info.get("hidden_by_cutoff") or info.get("filtered")):
            self._no_match = self._no_match_texts(info)
        if kind == "browse":
            folder = self.folders_panel.selected()
            if n == 0:
                if self._job is not None:
                    self.view.set_empty_text("Indexing… images appear here as they are added.")
                elif folder:
                    self.view.set_empty_text("No images indexed in this folder yet.")
                else:
                    self.view.set_empty_text("Nothing indexed yet: add a folder (Ctrl+O).")
            if folder:
                self.statusBar().showMessage(f"{n} image{'s' if n != 1 else ''} in {folder}", 5000)
        else:
            self.view.set_empty_text(f"No images match {info.get('label', '')}." if n == 0 else "")
            self.statusBar().showMessage(f"{n} result{'s' if n != 1 else ''} for {info.get('label', '')} "
                                         f"({info.get('seconds', 0):.2f} s)", 8000)
        if n:
            row = self.model.row_of(keep) if keep else -1
            if info.get("refresh") and row >= 0:
                self._select(self.model.index(row))  # the user's place survives a live refresh
                self.view.scrollTo(self.model.index(row), GridView.ScrollHint.PositionAtCenter)
                if self.preview.item is not None:
                    self.preview.item = self.model.item(row)
            else:
                self._select(self.model.index(max(0, row)))
                self.view.scrollTo(self.model.index(max(0, row)))
        else:
            self.preview.show_item(None)
        self._update_page()
        self.resultsShown.emit({**info, "count": n, "paths": [it.hit.path for it in items[:50]]})

    def _no_match_texts(self, info: dict[str, Any]) -> tuple[str, str, bool, bool]:
        label = info.get("label", "")
        filtered = bool(info.get("filtered"))
        if info.get("hidden_by_cutoff"):
            ms = self.cfg.settings.min_score
            level = "Auto" if ms is None else f"{ms:.2f}"
            text = (f"Nothing matched {label} well enough: weaker matches are hidden by the relevance cut-off "
                    f"({level}). Show them anyway, or lower the cut-off in the filter bar.")
            if filtered:
                text += " Filters are on too."
            return "No good matches", text, True, filtered
        what = "images" if info.get("kind") == "browse" else label
        return "Nothing passes the filters", f"No indexed images match {what} with the filters that are on.", False, True

    @Slot(int, str, str)
    def _on_search_failed(self, req_id: int, text: str, details: str) -> None:
        if req_id != self._pending_id:
            return
        self._no_match = None
        self.model.clear()
        self.view.set_empty_text(text[:1].upper() + text[1:])
        self._update_page(force_results=True)
        self.bridge.error(text, details)
        self.searchFailed.emit(text)

    def _on_mode_changed(self, _: int) -> None:
        mode = self.mode_combo.currentData()
        if mode and self._ready:
            self.cfg.settings.search_mode = str(mode)
            if self.search_edit.text().strip():
                self.search_now()

    # Results, preview, actions ----------------------------------------------------------------
    def _select(self, index: QModelIndex) -> None:
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.view.selectionModel().setCurrentIndex(index, flags)

    def _path_at(self, index: QModelIndex) -> str:
        item = self.model.item(index.row()) if index.isValid() else None
        return item.hit.path if item is not None else ""

    def _current_path(self) -> str:
        return self._path_at(self.view.currentIndex())

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedIndexes()})
        paths = [self.model.item(r).hit.path for r in rows if self.model.item(r) is not None]  # type: ignore[union-attr]
        return paths or ([self._current_path()] if self._current_path() else [])

    def _on_current_changed(self, current: QModelIndex, _: QModelIndex) -> None:
        item = self.model.item(current.row()) if current.isValid() else None
        if item is None:
            return
        if item.hit.path == self.preview.current_path():
            return
        self.preview.show_item(item, self.loader.thumbnail(item.hit.path), self.model.show_scores)
        if self.preview.isVisible():
            self.loader.request_image(item.hit.path)
        self.detailsRequested.emit(item.hit.path)

    def show_preview_of_current(self) -> None:
        if not self.preview.isVisible():
            self.act_preview.setChecked(True)
        item = self.model.item(self.view.currentIndex().row())
        if item is not None:
            self.preview.show_item(item, self.loader.thumbnail(item.hit.path), self.model.show_scores)
            self.loader.request_image(item.hit.path)
            self.detailsRequested.emit(item.hit.path)

    def _on_thumbnail(self, path: str) -> None:
        pix = self.loader.thumbnail(path)
        if pix is not None:
            self.preview.set_thumbnail(path, pix)
            if path == self._chip_path and self.similar_chip.isVisible():
                self._show_chip(os.path.basename(path), pix)

    def _context_menu(self, pos: Any) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self._select(index)
        path = self._path_at(index)
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_path(path))
        menu.addAction("Show in folder", lambda: self.reveal_path(path))
        menu.addAction("Copy path", self.copy_selected_paths)
        menu.addSeparator()
        menu.addAction("Find similar", lambda: self.find_similar(path))
        self._last_menu = menu
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def open_path(self, path: str) -> None:
        if not path:
            return
        if not os.path.exists(path):
            self.bridge.error(f"{path} no longer exists (moved or deleted since it was indexed)")
            return
        if not self.open_url(QUrl.fromLocalFile(path)):
            self.bridge.error(f"no application is set up to open {os.path.basename(path)}")

    def reveal_path(self, path: str) -> None:
        if path:
            self.reveal(path)

    def copy_selected_paths(self) -> None:
        paths = self.selected_paths()
        if paths:
            QGuiApplication.clipboard().setText("\n".join(paths))
            self.statusBar().showMessage(f"Copied {'the path' if len(paths) == 1 else f'{len(paths)} paths'}", 3000)

    def _focus_grid(self) -> None:
        if self.model.rowCount():
            self.view.setFocus()
            if not self.view.currentIndex().isValid():
                self._select(self.model.index(0))

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.search_page)
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def set_preview_visible(self, visible: bool) -> None:
        self.preview.setVisible(visible)
        self.state["show_preview"] = bool(visible)
        if visible and self._current_path():
            self.show_preview_of_current()

    def _on_thumb_size(self, value: int) -> None:
        self.view.set_thumb_size(value)
        self.state["thumb_size"] = self.view.thumb_size

    # Paste and drop -------------------------------------------------------------------------
    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        if self.handle_mime(mime, source="clipboard"):
            return
        text = mime.text().strip() if mime.hasText() else ""
        if text:
            self.search(text)

    def handle_mime(self, mime: QMimeData, source: str = "drop") -> bool:
        """Files → look-alikes of the first image (folders are added to the index); pixels →
        look-alikes of those pixels. True when something was done."""
        urls = list(mime.urls()) if mime.hasUrls() else []
        local = [u.toLocalFile() for u in urls if u.isLocalFile()]
        if urls and not local:
            self.bridge.warning("only files on this computer can be searched by (download the image first)")
            return True
        dirs = [p for p in local if os.path.isdir(p)]
        files = [p for p in local if os.path.isfile(p)]
        if dirs:
            self.add_folders(dirs)
        if files:
            self.find_similar(files[0])
            return True
        if dirs:
            return True
        if local:
            self.bridge.error(f"{local[0]} does not exist")
            return True
        if mime.hasImage():
            image = mime.imageData()
            qimg = image if isinstance(image, QImage) else QImage(image)
            self.find_similar_image(qimg, "the pasted image" if source == "clipboard" else "the dropped image")
            return True
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()
            self.statusBar().showMessage("Drop an image to find look-alikes, or a folder to index it")
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: Any) -> None:
        self.statusBar().clearMessage()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.handle_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def similar_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Find images like…", os.path.expanduser("~"),
                                              "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff *.heic *.heif);;"
                                              "All files (*)")
        if path:
            self.find_similar(path)

    # Folders and indexing -------------------------------------------------------------------
    def add_folder_dialog(self) -> None:
        start = self.cfg.settings.folders[-1] if self.cfg.settings.folders else os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, "Add a folder to the index", start)
        if path:
            self.add_folders([path])

    def add_folders(self, paths: list[str]) -> None:
        folders = self.cfg.settings.folders
        new = []
        for raw in paths:
            p = os.path.abspath(os.path.expanduser(raw))
            if not os.path.isdir(p):
                self.bridge.error(f"{p} is not a folder")
                continue
            if p not in folders:
                folders.append(p)
                self._removed_folders.discard(p)
            new.append(p)
        if not new:
            return
        self._save_settings()
        self.folders_panel.set_folders(folders)
        self._enqueue(IndexJob(roots=new))
        self.watching.sync()
        self._update_page()

    def rescan(self) -> None:
        if self.cfg.settings.folders:
            self._enqueue(IndexJob(roots=list(self.cfg.settings.folders)))

    def remove_folder(self, folder: str, confirm: bool = True) -> None:
        if folder not in self.cfg.settings.folders:
            return

        def do_remove() -> None:
            self.cfg.settings.folders.remove(folder)
            self._removed_folders.add(folder)
            self._save_settings()
            self.folders_panel.set_folders(self.cfg.settings.folders)
            job = IndexJob(remove=folder, keep=list(self.cfg.settings.folders))
            if not self.watching.remove_after_release(folder, job):
                self._enqueue(job)

        if not confirm:
            do_remove()
            return
        dialogs.ask(self, f"Remove {folder} from the index?",
                    "Its images will no longer be found. The files themselves stay where they are.",
                    "Remove", do_remove)

    def _enqueue(self, job: IndexJob) -> None:
        self._jobs.append(job)
        self._next_job()

    def _next_job(self) -> None:
        if self._job is not None or not self._jobs or self._closing:
            return
        self._job = self._jobs.pop(0)
        self._paused = False
        self.index_worker.set_paused(False)
        self.pause_button.setText("Pause")
        self.progress_label.setText("Removing…" if self._job.remove else "Preparing…")
        self.progress_current.setText("")
        self.progress_bar.setRange(0, 0)
        self.progress_box.show()
        self.folders_panel.set_busy(True)
        self.indexRequested.emit(self._job)

    def toggle_pause(self) -> None:
        if self._job is None:
            return
        self._paused = not self._paused
        self.index_worker.set_paused(self._paused)
        self.pause_button.setText("Resume" if self._paused else "Pause")
        if self._paused:
            self.progress_label.setText("Paused")
        self.watching.set_index_paused(self._paused)  # Pause means "stop using the computer": the watcher waits too

    def cancel_indexing(self) -> None:
        """Stop the indexing job (and those queued); the watcher goes on watching (File → Pause
        watching folders stops it too)."""
        for job in [self._job, *self._jobs]:
            if job is not None:
                job.cancel.set()
                job.stop_stages.set()
        self._jobs.clear()
        self.index_worker.set_paused(False)
        self._paused = False
        self.pause_button.setText("Pause")
        self.watching.set_index_paused(self._paused)
        if self._job is not None:
            self.progress_label.setText("Cancelling…")

    @property
    def indexing(self) -> bool:
        return self._job is not None or bool(self._jobs)

    @Slot(object)
    def _on_index_started(self, job: IndexJob) -> None:
        self.indexStarted.emit(job)

    @Slot(object)
    def _on_index_progress(self, p: Any) -> None:
        self.indexProgress.emit(p)
        if self._job is None or self._job.cancel.is_set():
            return
        stage = p.stage
        if stage == "scan":
            self.progress_label.setText("Looking for images…")
            self.progress_bar.setRange(0, 0)
            self.progress_current.setText(_elide_path(p.current, 40))
        elif stage == "load":
            self.progress_label.setText("Loading the image model…")
            self.progress_bar.setRange(0, 0)
        elif stage == "index":
            if not self._paused:
                rate = f" · {p.rate:.1f}/s" if p.rate else ""
                self.progress_label.setText(f"Indexing {p.done}/{p.total}{rate}")
            self.progress_bar.setRange(0, max(1, p.total))
            self.progress_bar.setValue(p.done)
            self.progress_current.setText(_elide_path(os.path.basename(p.current), 32))
            self.progress_current.setToolTip(p.current)
            self._live_refresh()
        elif stage in ("optimize", "done"):
            self.progress_label.setText("Compacting the index…" if stage == "optimize" else "Finishing…")
        else:  # later stages: OCR, text vectors, captions
            self.progress_label.setText(f"{stage.capitalize()} {p.done}/{p.total}" if p.total else stage.capitalize())
            if p.total:
                self.progress_bar.setRange(0, p.total)
                self.progress_bar.setValue(p.done)
            self.progress_current.setText(_elide_path(p.current, 40))

    def _live_refresh(self) -> None:
        """While the first images arrive, show them (at most every 3 s, and only while the
        grid is browsing and still short, so the user's scroll position is not disturbed)."""
        now = time.monotonic()
        req = self._current
        if req is None or req.kind != "browse" or self.model.rowCount() >= 60 or now - self._last_live_refresh < 3.0:
            return
        self._last_live_refresh = now
        self.browse()

    @Slot(object, object)
    def _on_index_finished(self, job: IndexJob, report: dict[str, Any]) -> None:
        self._job = None
        if report.get("skipped"):
            self._after_job()
            return
        if job.remove:
            self.statusBar().showMessage(f"Removed {job.remove} from the index ({report.get('removed', 0)} images)", 8000)
        else:
            parts = [f"{report.get('added', 0)} new", f"{report.get('updated', 0)} changed"]
            if report.get("removed"):
                parts.append(f"{report['removed']} removed")
            if report.get("failed"):
                parts.append(f"{report['failed']} skipped")
            verb = "Indexing cancelled" if report.get("cancelled") else "Indexed"
            self.statusBar().showMessage(f"{verb}: {', '.join(parts)} in {report.get('seconds', 0):.1f} s", 10000)
        if report.get("updated") or report.get("removed"):
            self.loader.invalidate()  # changed files: their old thumbnails must not linger
        self._stats["images"] = int(report.get("images", self._stats["images"]))
        self._stats["failed"] = int(report.get("failed_total", self._stats["failed"]))
        self._show_stats()
        self.indexFinished.emit(report)
        self._after_job()
        self.rerun()
        if self.watching.state == "failed":
            self.watching.retry()  # e.g. the index was rebuilt for the new model: watching can start now

    @Slot(object, str, str, bool)
    def _on_index_failed(self, job: IndexJob, text: str, details: str, rebuild: bool) -> None:
        self._job = None
        self.indexFailed.emit(text)
        if rebuild:
            folders = list(self.cfg.settings.folders)
            dialogs.ask(self, "The index was built with another image model.", text[:1].upper() + text[1:] + ".",
                        "Rebuild index", lambda: self._enqueue(IndexJob(roots=folders, rebuild=True)))
        else:
            self.bridge.error(text, details)
        self._after_job()

    def _after_job(self) -> None:
        if not self._jobs:
            self.progress_box.hide()
            self.folders_panel.set_busy(False)
        if self._paused:
            self._paused = False
            self.watching.set_index_paused(self._paused)
        self._next_job()
        self._update_page()
        self.dups_panel.mark_stale()

    # Filters and the relevance cut-off -------------------------------------------------------
    def _set_filters_visible(self, visible: bool) -> None:
        self.filter_bar.setVisible(visible)
        self.state["show_filters"] = bool(visible)
        if self.act_filters.isChecked() != visible:
            self.act_filters.setChecked(visible)
        self._update_filters_button()

    def _update_filters_button(self) -> None:
        n = self.filter_bar.active_count()
        self.filters_button.setText(f"Filters ({n})" if n else "Filters")

    def _apply_filters(self) -> None:
        self._update_filters_button()
        self.rerun()

    def set_filters(self, **filters: Any) -> None:
        """Set the filter bar (see FilterBar.set_filters) and search again; automation and tests."""
        self.filter_bar.set_filters(**filters)
        self._filter_timer.stop()
        self._apply_filters()

    def set_min_score(self, value: float | None) -> None:
        """The relevance cut-off (Settings.min_score: None = calibrated, -1 = off, else a score):
        remembered, and the current search runs again with it."""
        if value is not None and float(value) <= -1:
            value = -1.0
        if self.filter_bar.cutoff_setting() != value:
            self.filter_bar.set_cutoff(value)
        if self.cfg.settings.min_score == value:
            return
        self.cfg.settings.min_score = value
        self._save_settings()
        if self._current is not None and self._current.kind != "browse":
            self._search_timer.stop()
            self.rerun()

    # Folder watching (the WatchStatus part) -------------------------------------------------------
    @property
    def watcher(self) -> Any:
        """The running WatchService (tests look at it; the window itself only talks to the
        controller)."""
        return self.watching.service

    @property
    def watch_state(self) -> str:
        return self.watching.state

    def set_watch_paused(self, paused: bool) -> None:
        """File → Pause watching folders: events are still collected, nothing is indexed."""
        if self.act_pause_watch.isChecked() != paused:
            self.act_pause_watch.setChecked(paused)
        self.watching.set_user_paused(paused)

    def _after_watch_changes(self) -> None:
        """Changes the watcher indexed: refresh the results (keeping the user's place), counts
        and the duplicates list's staleness."""
        self.statsRequested.emit()
        self.dups_panel.mark_stale()
        if not self._closing:
            self.rerun(refresh=True)

    def watch_ctl_stop(self, timeout_s: float) -> bool:
        """Stop the watcher (the batch in flight is finished) and give the writer lock back."""
        return self.watching.stop_controller(timeout_s)

    # Engine state ---------------------------------------------------------------------------
    @Slot(object)
    def _on_stats(self, stats: dict[str, int]) -> None:
        self._stats.update(stats)
        self._show_stats()
        self._update_page()

    def _show_stats(self) -> None:
        n = self._stats.get("images", 0)
        self.count_label.setText(f"{n:,} image{'s' if n != 1 else ''} indexed")
        bad = self._stats.get("failed", 0) + len(self.bridge.errors)
        self.problems_button.setText(f"⚠ {bad} problem{'s' if bad != 1 else ''}")
        self.problems_button.setVisible(bad > 0)

    @Slot(object)
    def _on_ready(self, info: dict[str, Any]) -> None:
        self._ready = True
        self._model_error = ""
        modes = list(info.get("modes") or ["visual"])
        self._modes = modes
        self.mode_combo.blockSignals(True)
        self.mode_combo.clear()
        for m in modes:
            self.mode_combo.addItem(MODE_LABELS.get(m, m.capitalize()), m)
            self.mode_combo.setItemData(self.mode_combo.count() - 1, MODE_TIPS.get(m, ""), Qt.ItemDataRole.ToolTipRole)
        want = self.cfg.settings.search_mode if self.cfg.settings.search_mode in modes else modes[0]
        self.mode_combo.setCurrentIndex(max(0, modes.index(want)))
        self.mode_combo.setEnabled(len(modes) > 1)
        self.mode_combo.setToolTip("Search mode" if len(modes) > 1 else
                                   "Visual search (text and keyword search are not installed)")
        self.mode_combo.blockSignals(False)
        self.filter_bar.set_calibrated(info.get("cutoff") or {})
        self.statusBar().showMessage(f"Ready: image model {info.get('model', '')} loaded in {info.get('seconds', 0):.1f} s", 6000)
        self.engineReady.emit(info)
        self.watching.ready = True
        self.watching.ensure()

    @Slot(str, str)
    def _on_model_failed(self, text: str, details: str) -> None:
        self._model_error = text
        self.bridge.error(text, details)
        self.engineReady.emit({"error": text})

    def _update_page(self, force_results: bool = False) -> None:
        empty = (self._stats.get("images", 0) == 0 and not self.cfg.settings.folders and self.model.rowCount() == 0
                 and not self.indexing and not force_results)
        no_match = not empty and self._no_match is not None and self.model.rowCount() == 0
        if no_match:
            title, text, weaker, clear = self._no_match  # type: ignore[misc]
            self.no_match_title.setText(title)
            self.no_match_text.setText(text)
            self.show_weaker_button.setVisible(weaker)
            self.clear_filters_button.setVisible(clear)
        self.stack.setCurrentWidget(self.welcome if empty else self.no_match if no_match else self.view)
        self.preview.setVisible(not empty and not no_match and bool(self.state.get("show_preview", True)))

    # Messages and panels --------------------------------------------------------------------
    @Slot(object)
    def _on_message(self, msg: Message) -> None:
        if msg.level == "info":
            self.statusBar().showMessage(msg.text, 6000)
            return
        self.statusBar().showMessage(msg.text[:1].upper() + msg.text[1:], 10000)
        self._show_stats()
        if self.errors_panel is not None:
            self.errors_panel.set_session_errors(self.bridge.errors)
        if msg.level == "error" and not self._closing:
            box = self._open_boxes.get(msg.text)
            if box is not None and box.isVisible():
                return  # the same message is already on screen
            box = dialogs.show_message(self, msg.text, msg.details, "error")
            self._open_boxes[msg.text] = box
            box.destroyed.connect(lambda *_, t=msg.text: self._open_boxes.pop(t, None))

    def show_errors_panel(self) -> None:
        if self.errors_panel is None:
            self.errors_panel = ErrorsPanel(self)
            self.errors_panel.refreshRequested.connect(self.failuresRequested)
        self.errors_panel.set_session_errors(self.bridge.errors)
        self.failuresRequested.emit()
        self.errors_panel.show()
        self.errors_panel.raise_()

    @Slot(object)
    def _on_failures(self, rows: list[dict[str, Any]]) -> None:
        if self.errors_panel is not None:
            self.errors_panel.set_failures(rows)

    def open_settings(self) -> SettingsDialog:
        old = getattr(self, "_settings_dialog", None)
        if old is not None:  # kept until now: a header check may still answer to it after it closed
            old.deleteLater()
        dlg = SettingsDialog(self.cfg, int(self.state.get("results_limit", 500)),
                             bool(self.state.get("rescan_on_start", True)), self)
        dlg.accepted.connect(lambda: self.apply_settings(dlg.values()))
        dlg.open()
        self._settings_dialog = dlg
        return dlg

    def apply_settings(self, values: Any) -> None:
        s = self.cfg.settings
        before = (s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device)
        precision_before = s.precision
        s.clip_model, s.clip_pretrained = values.clip_model, values.clip_pretrained
        s.clip_checkpoint, s.device = values.clip_checkpoint, values.device
        s.precision = values.precision
        # The VLM slot picks up a changed model at the next question or caption (no reload here).
        s.vlm_model, s.vlm_mmproj, s.captions_enabled = values.vlm_model, values.vlm_mmproj, values.captions_enabled
        self.state["results_limit"] = int(values.results_limit)
        self.state["rescan_on_start"] = bool(values.rescan_on_start)
        self._save_settings()
        if values.data_dir and os.path.abspath(values.data_dir) != str(self.cfg.data_dir):
            remember_data_dir(self.cfg.profile, values.data_dir)
            self.bridge.info(f"the data directory {values.data_dir} is used from the next start")
        model_changed = before != (s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device)
        if model_changed or precision_before != s.precision:
            self.watching.stop()  # its indexer holds the old model: a new watcher starts once the new one is ready
            self._ready = self.watching.ready = False
            self.mode_combo.setEnabled(False)
            self.statusBar().showMessage("Loading the new image model…")
            self.resetModelsRequested.emit()
            # Another precision gives the same vectors to ~1e-4: nothing to re-index.
            if model_changed and self.cfg.settings.folders and self.cfg.profile != "test":
                folders = list(self.cfg.settings.folders)
                dialogs.ask(self, "Re-index with the new model?",
                            "Images indexed with the previous model are not found by the new one until they are "
                            "indexed again.", "Re-index now", lambda: self._enqueue(IndexJob(roots=folders, rebuild=True)))

    def show_shortcuts(self) -> None:
        shortcuts_dialog(self, self.actions_by_name)

    def show_about(self) -> None:
        from imgrag_desktop import __version__

        dialogs.show_message(self, f"imgrag-desktop {__version__}", level="info", as_sentence=False,
                             informative=f"Offline search over your own images.\nData directory: {self.cfg.data_dir}\n"
                                         f"Profile: {self.cfg.profile}")

    def _on_folder_selected(self, folder: str) -> None:
        self.rerun()

    # State ----------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        st = self.state
        self._restore_geometry()
        win = st.get("window_state")
        if isinstance(win, str) and win:
            self.restoreState(QByteArray.fromBase64(win.encode("ascii")))
        split = st.get("splitter")
        if isinstance(split, str) and split:
            self.splitter.restoreState(QByteArray.fromBase64(split.encode("ascii")))
        self.preview.setVisible(bool(st.get("show_preview", True)))
        self.filters_button.setChecked(bool(st.get("show_filters", False)))

    def _restore_geometry(self) -> bool:
        geo = self.state.get("geometry")
        if isinstance(geo, str) and geo:
            return bool(self.restoreGeometry(QByteArray.fromBase64(geo.encode("ascii"))))
        return False

    def save_state(self) -> None:
        st = self.state
        st["geometry"] = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        st["window_state"] = bytes(self.saveState().toBase64().data()).decode("ascii")
        st["splitter"] = bytes(self.splitter.saveState().toBase64().data()).decode("ascii")
        st["thumb_size"] = self.view.thumb_size
        if self._ready and self.mode_combo.currentData():
            self.cfg.settings.search_mode = str(self.mode_combo.currentData())
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            save_settings(self.cfg, self._removed_folders)
        except OSError as exc:
            self.bridge.error(f"cannot save settings in {self.cfg.data_dir}: {exc.strerror or exc}")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.shutdown()
        event.accept()
        super().closeEvent(event)

    def shutdown(self, wait_ms: int = 60_000) -> bool:
        """Stop the workers (indexing stops after its current batch). True when all stopped."""
        if self._closing:
            return not (self.query_thread.isRunning() or self.index_thread.isRunning()
                        or self.ask_panel.ask_thread.isRunning() or self.watch_thread.isRunning()
                        or self.dups_panel.thread.isRunning() or self.watch_ctl.service is not None)
        self._closing = True
        self.watching.shutdown()
        self.cancel_indexing()
        self.gate.next()  # queued searches become stale
        self.loader.shutdown()
        self.query_thread.quit()
        self.index_thread.quit()
        ok = self.ask_panel.shutdown(wait_ms)
        ok = self.dups_panel.shutdown(wait_ms) and ok
        ok = self.index_thread.wait(wait_ms) and ok
        ok = self.watch_thread.wait(wait_ms) and ok  # a start in flight finishes first
        ok = self.watch_ctl_stop(wait_ms / 1000) and ok
        ok = self.query_thread.wait(wait_ms) and ok
        return bool(ok)


def _elide_path(path: str, n: int) -> str:
    if len(path) <= n:
        return path
    name = os.path.basename(path)
    return ("…" + path[-(n - 1):]) if len(name) >= n - 1 else ("…/" + name if len(name) + 2 <= n else name[: n - 1] + "…")
