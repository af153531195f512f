"""The main window: a shell that composes the parts and wires them to the workers.

The parts each live in their own module: the Search tab (search_page.py: search bar, filter
bar, results grid, preview), the indexing queue with its progress, Pause and Cancel
(index_queue.py), the folder watcher's status (watch_status.py) and every menu command with its
keys (actions.py); Ask and Duplicates are further tabs. Every engine call goes to a worker
(workers.py) through a queued signal and comes back as a signal, so the GUI thread only lays
out widgets and paints.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from PySide6.QtCore import QModelIndex, Qt, QThread, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices
from PySide6.QtWidgets import QMainWindow, QMenu, QTabWidget, QWidget

from imgrag_desktop.config import AppConfig, remember_data_dir
from imgrag_desktop.gui import dialogs
from imgrag_desktop.gui.actions import build_actions
from imgrag_desktop.gui.actions import show_shortcuts as shortcuts_dialog
from imgrag_desktop.gui.ask_panel import AskPanel
from imgrag_desktop.gui.desktop import open_file, reveal_in_file_manager
from imgrag_desktop.gui.drops import DropTarget
from imgrag_desktop.gui.duplicates_panel import DuplicatesPanel
from imgrag_desktop.gui.export_status import ExportStatus
from imgrag_desktop.gui.folder_library import FolderLibrary
from imgrag_desktop.gui.folders import FoldersPanel, folders_dock
from imgrag_desktop.gui.index_queue import IndexQueue, finished_text
from imgrag_desktop.gui.messages import MessageBridge
from imgrag_desktop.gui.people_panel import PeoplePanel
from imgrag_desktop.gui.responsive import NarrowWindow
from imgrag_desktop.gui.search_page import SearchPage
from imgrag_desktop.gui.settings_dialog import SettingsDialog, apply_values
from imgrag_desktop.gui.state import gui_state, remember_layout, restore_layout, save_settings
from imgrag_desktop.gui.status_report import StatusReport
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.watch_status import WatchStatus
from imgrag_desktop.gui.workers import EngineHost, IndexJob, QueryWorker, RequestGate
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.store.writers import DataDirWriter

__all__ = ["MainWindow", "reveal_in_file_manager"]

WATCH_RETRY_MS = 15_000  # another process holds the writer lock: try to watch again this often


class MainWindow(QMainWindow):
    # Made by actions.build_actions from the one list of commands (the others are used only there).
    act_preview: QAction
    act_clear: QAction
    act_filters: QAction
    act_pause_watch: QAction
    watch_retry_ms = WATCH_RETRY_MS  # another process writes: try to watch again after this long
    # Requests to the workers (queued across threads).
    warmUpRequested = Signal()
    statsRequested = Signal()
    resetModelsRequested = Signal()
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
        self._owns_host = host is None  # its models are freed when this window shuts down
        self.open_url = open_url or QDesktopServices.openUrl
        self.reveal = reveal or (lambda p: reveal_in_file_manager(p, self.open_url, self))
        self.gate = RequestGate()
        self._start_engine = start_engine
        self._was_shown = False
        self._ready = False
        self._fill_visual_pending = False
        self._rescan_pending = False  # the start's rescan, run once the engine is ready (or failed)
        self._closing = False
        self.setWindowTitle("imgrag-desktop" + (" — test profile" if cfg.profile == "test" else ""))
        self.setAcceptDrops(True)
        self.loader = ImageLoader(cfg.thumbs_dir, threads=2, parent=self)
        self._build_ui()
        self._build_ask_panel()
        self._build_duplicates_panel()
        self._build_places_panel()
        self._build_people_panel()
        self._build_actions()
        self._build_workers()
        self._restore_state()
        self.folders_panel.set_folders(self.cfg.settings.folders)
        self.page.update_page()

    # The parts ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.resize(1280, 820)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)
        self.setCentralWidget(self.tabs)

        self.folders_panel = FoldersPanel(self)
        self.folders_dock = folders_dock(self.folders_panel, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.folders_dock)

        sb = self.statusBar()
        sb.setSizeGripEnabled(True)
        self.page = self.search_page = SearchPage(
            self.cfg, self.state, self.bridge, self.loader, self.gate, sb, folder=self._folder,
            indexing=lambda: self.indexing, images=lambda: self.report.stats.get("images", 0),
            save_settings=self._save_settings, parent=self)
        # The page's widgets, also reachable on the window (automation, tests, screenshots).
        p = self.page
        self.model, self.view, self.preview, self.stack, self.splitter = p.model, p.view, p.preview, p.stack, p.splitter
        self.search_edit, self.similar_chip, self.similar_label = p.search_edit, p.similar_chip, p.similar_label
        self.mode_combo, self.filters_button, self.size_slider = p.mode_combo, p.filters_button, p.size_slider
        self.filter_bar, self.welcome, self.welcome_button = p.filter_bar, p.welcome, p.welcome_button
        self.filter_bar.offline_source = self.folders_panel.offline_folders
        self.no_match, self.no_match_title, self.no_match_text = p.no_match, p.no_match_title, p.no_match_text
        self.show_weaker_button, self.clear_filters_button = p.show_weaker_button, p.clear_filters_button
        self.tabs.addTab(self.page, "Search")
        p.viewerShown.connect(self._viewer_shown)
        self.narrow = NarrowWindow(self, self.folders_dock, busy=p.viewer_open, end_busy=p.close_viewer)

        self.queue = IndexQueue(self.host, self.writes, parent=self)
        q = self.queue
        self.progress_box, self.progress_label, self.progress_current = q.box, q.label, q.current
        self.progress_bar, self.pause_button, self.cancel_button = q.bar, q.pause_button, q.cancel_button
        self.index_thread, self.index_worker = q.index_thread, q.worker
        sb.addPermanentWidget(self.progress_box)
        self.report = StatusReport(self.bridge, sb, self)
        self.problems_button, self.count_label = self.report.problems_button, self.report.count_label
        sb.addPermanentWidget(self.problems_button)
        self.watching = WatchStatus(self.host, self.writes, self.watch_options, folders=lambda: self.cfg.settings.folders,
                                    panel=self.folders_panel, bridge=self.bridge, status_bar=sb, loader=self.loader,
                                    retry_ms=lambda: self.watch_retry_ms, parent=self)
        self.watch_label = self.watching.label
        sb.addPermanentWidget(self.watch_label)
        self.export_status = ExportStatus(self)
        sb.addPermanentWidget(self.export_status.label)
        self.folders = FolderLibrary(self.cfg, self.bridge, self.folders_panel, self.queue, self.watching,
                                     self._save_settings, parent=self)
        self.folders.changed.connect(self.page.update_page)
        self.folders.folderRemoved.connect(self.page.drop_folder)
        self.installEventFilter(DropTarget(self.page.handle_mime, sb, self))
        sb.addPermanentWidget(self.count_label)

        p.openRequested.connect(self.open_path)
        p.revealRequested.connect(self.reveal_path)
        p.foldersDropped.connect(self.add_folders)
        p.resultsShown.connect(self.resultsShown)
        p.searchFailed.connect(self.searchFailed)
        self.welcome_button.clicked.connect(self.add_folder_dialog)
        self.folders_panel.addRequested.connect(self.add_folder_dialog)
        self.folders_panel.removeRequested.connect(self.remove_folder)
        self.folders_panel.rescanRequested.connect(self.rescan)
        self.folders_panel.folderSelected.connect(lambda _: self.rerun())

    def _build_duplicates_panel(self) -> None:
        """The Duplicates tab: near-identical pictures, grouped, keeper first (read-only)."""
        self.dups_panel = DuplicatesPanel(self.host, self.cfg.thumbs_dir, self.bridge,
                                          where=lambda: Filters().with_folder(self._folder()).where(),
                                          scope=self._folder, writes=self.writes, parent=self)
        self.dups_index = self.add_panel(self.dups_panel, "Duplicates", "Near-identical copies of the same picture (Ctrl+D)")
        self.dups_panel.openRequested.connect(self.open_path)
        self.dups_panel.revealRequested.connect(self.reveal_path)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _build_places_panel(self) -> None:
        from imgrag_desktop.gui.places_panel import PlacesPanel

        self.places_panel = PlacesPanel(self.host, self.loader, parent=self)
        self.add_panel(self.places_panel, "Places", "The library by place and by time")
        self.places_panel.searchRequested.connect(self._search_from_panel)

    def _search_from_panel(self, text: str) -> None:
        self.tabs.setCurrentWidget(self.page)
        self.search(text)
    def _build_people_panel(self) -> None:
        """The People tab: faces grouped into people; naming, merging, hiding."""
        self.people_panel = PeoplePanel(self.host, self.bridge, writes=self.writes, parent=self)
        self.people_index = self.add_panel(self.people_panel, "People", "The people in your photos (Ctrl+Shift+P)")
        self.people_panel.openRequested.connect(self.open_path)
        self.preview.personRequested.connect(self.show_person)
        self.people_panel.peopleListed.connect(self.filter_bar.set_people)
        self.engineReady.connect(lambda info: None if "error" in info else self.people_panel.refresh())

    def show_people(self) -> None:
        self.tabs.setCurrentWidget(self.people_panel)

    def show_person(self, ident: Any) -> None:
        """A face box clicked in the preview: that person in the People tab."""
        if ident is None:
            return
        self.people_panel.wanted = ident
        self.show_people()

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.dups_panel:
            self.dups_panel.ensure_computed()
        if self.tabs.widget(index) is getattr(self, "places_panel", None):
            self.places_panel.refresh()
        if self.tabs.widget(index) is self.people_panel:  # read again each time: indexing adds people
            self.people_panel.refresh()

    def show_duplicates(self) -> None:
        self.tabs.setCurrentWidget(self.dups_panel)

    def _build_ask_panel(self) -> None:
        """The Ask tab: questions answered by the local model, with the pictures it cites."""
        self.ask_panel = AskPanel(self.host, self.loader, self.bridge, self.state, folder=self._folder,
                                  filters=lambda: self.filter_bar.filters(), parent=self)
        self.add_panel(self.ask_panel, "Ask", "Ask the local model about your pictures (Ctrl+K)")
        self.ask_panel.openRequested.connect(self.open_path)
        self.ask_panel.revealRequested.connect(self.reveal_path)
        self.ask_panel.similarRequested.connect(self._similar_from_panel)
        self.ask_panel.settingsRequested.connect(self.open_settings)

    def _similar_from_panel(self, path: str) -> None:
        self.tabs.setCurrentWidget(self.page)
        self.find_similar(path)

    def focus_ask(self) -> None:
        self.tabs.setCurrentWidget(self.ask_panel)
        self.ask_panel.focus_question()

    def _build_actions(self) -> None:
        self.actions_by_name = build_actions(self, self.folders_dock.toggleViewAction())
        self.act_preview.setChecked(bool(self.state.get("show_preview", True)))
        self.act_clear.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.page.preview_toggle, self.page.filters_toggle = self.act_preview, self.act_filters

    def add_panel(self, widget: QWidget, title: str, tip: str = "") -> int:
        """Add a panel beside Search (the tab bar appears once there are two)."""
        index = self.tabs.addTab(widget, title)
        self.tabs.setTabToolTip(index, tip)
        return index

    def _build_workers(self) -> None:
        self.query_thread = QThread(self)
        self.query_thread.setObjectName("imgrag-query")
        self.query_worker = QueryWorker(self.host, self.gate)
        self.query_worker.moveToThread(self.query_thread)
        self.query_thread.finished.connect(self.query_worker.deleteLater)
        qw, p = self.query_worker, self.page
        p.searchRequested.connect(qw.run)
        p.detailsRequested.connect(qw.load_details)
        self.warmUpRequested.connect(qw.warm_up)
        self.statsRequested.connect(qw.refresh_stats)
        self.report.failuresRequested.connect(qw.load_failures)
        self.resetModelsRequested.connect(qw.reset_models)
        qw.stats.connect(self._on_stats)
        qw.ready.connect(self._on_ready)
        qw.modelFailed.connect(self._on_model_failed)
        qw.results.connect(p.on_results)
        qw.failed.connect(p.on_search_failed)
        qw.details.connect(self.preview.set_details)
        qw.details.connect(p.viewer.set_details)
        qw.failures.connect(self.report.on_failures)
        self.query_thread.start()

        q = self.queue
        q.started.connect(self.indexStarted)
        q.progress.connect(self.indexProgress)
        q.rowsArriving.connect(self.page.live_refresh)
        q.finished.connect(self._on_index_finished)
        q.failed.connect(self._on_index_failed)
        q.busyChanged.connect(self.folders_panel.set_busy)
        q.pausedChanged.connect(self.watching.set_index_paused)  # Pause means "stop using the computer"
        # A later stage that could not run (OCR, captions, text vectors) is told, never only logged.
        q.worker.stageWarning.connect(self.bridge.problem)

        w = self.watching
        self.watch_thread, self.watch_ctl = w.ctl_thread, w.ctl
        w.stateChanged.connect(self.watchStateChanged)
        w.eventHandled.connect(self.watchEvent)
        w.changesIndexed.connect(self._after_watch_changes)
        w.removalReady.connect(self._enqueue)
        w.removalHeld.connect(lambda root, gone: self.folders.ask_removal(root, gone, 0))
        w.ctl.stageWarning.connect(self.bridge.problem)

    def start(self) -> None:
        """Begin background work: open the index, load the model, bring folders up to date."""
        if not self._start_engine:
            return
        self._start_engine = False
        self.statusBar().showMessage("Opening the index and loading the image model…")
        self.warmUpRequested.emit()
        if self.page.current is None:  # a query asked for before the start (an image to match) wins
            self.page.browse()
        # The start's rescan waits for the engine: run beside the engine's start, its scan and
        # stages took the GIL and the cores the first query needs (issue 19).
        self._rescan_pending = bool(self.state.get("rescan_on_start", True) and self.cfg.settings.folders)

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

    # The search page, as automation, tests and the menus drive it --------------------------------
    def _folder(self) -> str:
        return self.folders_panel.selected()

    def search(self, text: str) -> None:
        self.page.search(text)

    def search_now(self) -> None:
        self.page.search_now()

    def rerun(self, refresh: bool = False) -> None:
        self.page.rerun(refresh)

    def clear_search(self) -> None:
        self.page.clear_search()

    def find_similar(self, path: str) -> None:
        self.page.find_similar(path)

    def set_filters(self, **filters: Any) -> None:
        self.page.set_filters(**filters)

    def set_min_score(self, value: float | None) -> None:
        self.page.set_min_score(value)

    def _select(self, index: QModelIndex) -> None:
        self.page.select(index)

    @property
    def _last_menu(self) -> QMenu | None:
        return self.page._last_menu

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.page)
        self.page.focus_search()

    def _viewer_shown(self, shown: bool) -> None:
        """The viewer takes the whole window: the folders panel steps aside meanwhile."""
        if shown:
            self._dock_was_visible = self.folders_dock.isVisible()
            self.folders_dock.hide()
        elif getattr(self, "_dock_was_visible", False):
            self.folders_dock.show()

    def open_current(self) -> None:
        self.open_path(self.page.current_path())

    def open_path(self, path: str) -> None:
        open_file(path, self.open_url, self.bridge)

    def reveal_path(self, path: str) -> None:
        if path:
            self.reveal(path)

    # Folders and indexing (the IndexQueue part) ------------------------------------------------
    def add_folder_dialog(self) -> None:
        self.folders.add_dialog()

    def add_folders(self, paths: list[str]) -> None:
        self.folders.add(paths)

    def rescan(self) -> None:
        self.folders.rescan()

    def remove_folder(self, folder: str, confirm: bool = True) -> None:
        self.folders.remove(folder, confirm)

    def _enqueue(self, job: IndexJob) -> None:
        self.queue.enqueue(job)

    @property
    def indexing(self) -> bool:
        return self.queue.indexing

    @Slot(object, object)
    def _on_index_finished(self, job: IndexJob, report: dict[str, Any]) -> None:
        if report.get("skipped"):
            self._after_job()
            return
        self.statusBar().showMessage(finished_text(job, report), 8000 if job.remove else 10000)
        if report.get("updated") or report.get("removed"):
            self.loader.invalidate()  # changed files: their old thumbnails must not linger
        stats = self.report.stats
        self.report.update_stats({"images": int(report.get("images", stats["images"])),
                                  "failed": int(report.get("failed_total", stats["failed"]))})
        self.folders.show_scan(job, report)
        self.indexFinished.emit(report)
        self._after_job()
        self.rerun()
        if self.watching.state == "failed":
            self.watching.retry()  # e.g. the index was rebuilt for the new model: watching can start now

    @Slot(object, str, str, bool)
    def _on_index_failed(self, job: IndexJob, text: str, details: str, rebuild: bool) -> None:
        self.indexFailed.emit(text)
        if rebuild:
            self._offer_rebuild("The index was built with another image model.", text[:1].upper() + text[1:] + ".",
                                "Rebuild index")
        else:
            self.bridge.error(text, details)
        self._after_job()

    def _after_job(self) -> None:
        self.queue.after_job()
        self.page.update_page()
        self.dups_panel.mark_stale()

    # Folder watching (the WatchStatus part) ------------------------------------------------------
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

    # Engine state ---------------------------------------------------------------------------
    @Slot(object)
    def _on_stats(self, stats: dict[str, int]) -> None:
        self.report.update_stats(stats)
        self.page.update_page()

    @Slot(object)
    def _on_ready(self, info: dict[str, Any]) -> None:
        self._ready = self.page.ready = True
        self.page.clip_waiting = str(info.get("waiting") or "")
        self.page.set_modes(list(info.get("modes") or ["visual"]))
        self.filter_bar.set_calibrated(info.get("cutoff") or {})
        if info.get("waiting"):  # indexing and text searches go on; the Models page offers the download
            reason = str(info["waiting"]).rstrip(".")  # e.g. a checkpoint on an unplugged drive
            self.statusBar().showMessage(f"Visual search waits for the CLIP model ({reason}: File → Models…); "
                                         "text in pictures is searchable now")
            self.open_models(first_run=True)
        else:
            if info.get("next"):  # a CLIP switch under way (indexing/reembed.py)
                self.statusBar().showMessage(f"Visual search uses {info.get('model', '')} until every picture has "
                                             f"the new model's vectors (updating in the background)", 10000)
            else:
                self.statusBar().showMessage(f"Ready: image model {info.get('model', '')} loaded in "
                                             f"{info.get('seconds', 0):.1f} s", 6000)
            if self._fill_visual_pending:
                self._rescan_pending = True  # the visual stage gives the rows indexed meanwhile their vectors
        self._fill_visual_pending = False
        self._rescan_when_due()
        self.engineReady.emit(info)
        self.watching.ready = True
        self.watching.ensure()

    def _rescan_when_due(self) -> None:
        if self._rescan_pending and self.cfg.settings.folders:
            self.rescan()
        self._rescan_pending = False

    @Slot(str, str)
    def _on_model_failed(self, text: str, details: str) -> None:
        self.page.bar.model_failed()
        self.bridge.error(text, details)
        self._rescan_when_due()  # new pictures still get their text, faces and places
        self.engineReady.emit({"error": text})

    # Reports (the StatusReport part) -------------------------------------------------------------
    @property
    def _open_boxes(self) -> dict[str, Any]:
        return self.report.open_boxes

    @property
    def errors_panel(self) -> Any:
        return self.report.errors_panel

    def show_errors_panel(self) -> None:
        self.report.show_errors_panel()

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

    def open_models(self, first_run: bool = False) -> Any:
        """The Models page (File → Models…; by itself, once, when the CLIP model is missing)."""
        from imgrag_desktop.gui.models_page import open_models_page

        return open_models_page(self, first_run)

    def models_arrived(self, kind: str) -> None:
        """A model was downloaded or picked on the Models page: load it, then fill the vectors."""
        if kind == "clip":
            self._fill_visual_pending = True
            self.statusBar().showMessage("Loading the new image model…")
            self.resetModelsRequested.emit()

    def apply_settings(self, values: Any) -> None:
        model_changed, reload = apply_values(self.cfg, self.state, values)
        self._save_settings()
        if values.data_dir and os.path.abspath(values.data_dir) != str(self.cfg.data_dir):
            remember_data_dir(self.cfg.profile, values.data_dir)
            self.bridge.info(f"the data directory {values.data_dir} is used from the next start")
        if reload:
            self.watching.stop()  # its indexer holds the old model: a new watcher starts once the new one is ready
            self._ready = self.page.ready = self.watching.ready = False
            self.mode_combo.setEnabled(False)
            self.statusBar().showMessage("Loading the new image model…")
            self.resetModelsRequested.emit()
            # Another CLIP model: once it is loaded, a rescan re-embeds the pictures in the
            # background (indexing/reembed.py) while searches keep using the previous one.
            self._fill_visual_pending = self._fill_visual_pending or model_changed

    def _offer_rebuild(self, text: str, informative: str, button: str) -> None:
        folders = list(self.cfg.settings.folders)
        dialogs.ask(self, text, informative, button, lambda: self._enqueue(IndexJob(roots=folders, rebuild=True)))

    def show_shortcuts(self) -> None:
        shortcuts_dialog(self, self.actions_by_name)

    def show_about(self) -> None:
        dialogs.show_about(self, str(self.cfg.data_dir), self.cfg.profile)

    # State ----------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        restore_layout(self.state, self, self.splitter)
        self.preview.setVisible(bool(self.state.get("show_preview", True)))
        self.filters_button.setChecked(bool(self.state.get("show_filters", False)))

    def save_state(self) -> None:
        remember_layout(self.state, self, self.splitter)
        self.state["thumb_size"] = self.view.thumb_size
        if self._ready and self.mode_combo.currentData():
            self.cfg.settings.search_mode = str(self.mode_combo.currentData())
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            save_settings(self.cfg, self.folders.removed)
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
                        or self.dups_panel.thread.isRunning()  # type: ignore[attr-defined]
                        or self.people_panel.worker_thread.isRunning() or self.watch_ctl.service is not None)
        self._closing = self.report.closing = True
        models = getattr(self, "_models_dialog", None)
        if models is not None:
            models.stop_worker()  # a download in flight pauses (its partial file is kept)
        self.watching.shutdown()
        self.queue.shutdown()
        self.page.stop_timers()
        self.gate.next()  # queued searches become stale
        self.loader.shutdown()
        self.query_thread.quit()
        ok = self.ask_panel.shutdown(wait_ms)
        ok = self.dups_panel.shutdown(wait_ms) and ok
        ok = self.people_panel.shutdown(wait_ms) and ok
        ok = self.index_thread.wait(wait_ms) and ok
        ok = self.watch_thread.wait(wait_ms) and ok  # a start in flight finishes first
        ok = self.watching.stop_controller(wait_ms / 1000) and ok
        ok = self.query_thread.wait(wait_ms) and ok
        if ok and self._owns_host:  # nothing uses the models any more: free them now, not at a full GC
            self.host.close()
        return bool(ok)
