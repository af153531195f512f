"""The Search tab: the search bar, the filter bar, the results grid and the preview.

It turns what the user types, drops, pastes or filters into `Request`s (sent with
`searchRequested` to the query worker by the window) and shows the answers. It never touches
the engine itself; what it needs from the rest of the window comes in as small callables.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Callable

from PySide6.QtCore import QItemSelectionModel, QMimeData, QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QMenu,
    QSplitter,
    QStackedLayout,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui.drops import handle_mime
from imgrag_desktop.gui.empty_states import NoMatchPage, WelcomePage, no_results_text
from imgrag_desktop.gui.filters import FilterBar
from imgrag_desktop.gui.messages import MessageBridge
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.query_chips import QueryChips
from imgrag_desktop.gui.result_model import ResultsModel
from imgrag_desktop.gui.results_view import ResultsView
from imgrag_desktop.gui.search_bar import SearchBar
from imgrag_desktop.gui.search_wait import SearchWait
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.viewer import Viewer
from imgrag_desktop.gui.workers import Request, RequestGate, ResultItem

SEARCH_DELAY_MS = 350


class GridView(ResultsView):
    """The results grid, plus Enter for the viewer (as double-click)."""

    previewRequested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.previewRequested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class SearchPage(QWidget):
    searchRequested = Signal(int, object)  # request id, Request
    detailsRequested = Signal(str)
    openRequested = Signal(str)
    revealRequested = Signal(str)
    foldersDropped = Signal(object)  # folders dropped or pasted: index them
    resultsShown = Signal(object)
    firstResultsShown = Signal(object)  # the first screenful of a streamed answer (info, "count")
    searchFailed = Signal(str)
    viewerShown = Signal(bool)  # the viewer fills the tab (True) or the grid is back (False)

    def __init__(self, cfg: AppConfig, state: dict[str, Any], bridge: MessageBridge, loader: ImageLoader,
                 gate: RequestGate, status_bar: QStatusBar, *, folder: Callable[[], str],
                 indexing: Callable[[], bool], images: Callable[[], int], save_settings: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cfg, self.state, self.bridge, self.loader, self.gate = cfg, state, bridge, loader, gate
        self.status_bar = status_bar
        self._folder, self._indexing, self._images, self._save_settings = folder, indexing, images, save_settings
        self.ready = False  # the engine is up: mode changes search again
        self.clip_waiting = ""  # why there is no image model yet ("" when CLIP is loaded)
        self.current: Request | None = None
        self.pending_id = 0
        self._chip_path = ""
        self._similar_image: Any = None  # the image of the "Looks like" chip: a path or a QImage
        self._similar_name = ""
        self._no_match: tuple[str, str, bool, bool] | None = None  # title, text, show-weaker, clear-filters
        self._last_menu: QMenu | None = None
        self._last_live_refresh = 0.0
        self.preview_toggle: QAction | None = None  # the View menu's actions, once the window made them
        self.filters_toggle: QAction | None = None
        self.model = ResultsModel(loader, self)
        self._search_timer = self._timer(SEARCH_DELAY_MS, self.search_now)
        self._filter_timer = self._timer(150, self._apply_filters)
        self._build()
        self._connect()

    def _timer(self, ms: int, slot: Callable[[], None]) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    def _build(self) -> None:
        self.pages = QStackedLayout(self)
        self.grid_page = QWidget(self)
        self.pages.addWidget(self.grid_page)
        self.viewer = Viewer(self.model, self.loader, self)
        self.pages.addWidget(self.viewer)
        v = QVBoxLayout(self.grid_page)
        v.setContentsMargins(10, 10, 10, 0)
        v.setSpacing(8)
        self.bar = bar = SearchBar(self)
        self.search_edit, self.similar_chip, self.similar_label = bar.search_edit, bar.similar_chip, bar.similar_label
        self.mode_combo, self.filters_button, self.size_slider = bar.mode_combo, bar.filters_button, bar.size_slider
        v.addWidget(bar)
        self.filter_bar = FilterBar(self)
        self.filter_bar.setVisible(False)
        self.filter_bar.set_cutoff(self.cfg.settings.min_score)
        v.addWidget(self.filter_bar)
        self.chips = QueryChips(self)
        v.addWidget(self.chips)
        self.query_reading = self.chips.reading  # follows the text as it is typed, cleared or set
        self.search_edit.textChanged.connect(self.chips.show_typed)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.stack = QStackedWidget(self.splitter)
        self.welcome = WelcomePage(self)
        self.welcome_button = self.welcome.button
        self.stack.addWidget(self.welcome)
        self.view = GridView(self.stack, thumb_size=int(self.state.get("thumb_size", 160)))
        self.wait = SearchWait(self.view)
        self.view.setModel(self.model)
        self.view.setAccessibleName("Results")
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.stack.addWidget(self.view)
        self.no_match = NoMatchPage(self)
        self.no_match_title, self.no_match_text = self.no_match.title, self.no_match.text
        self.show_weaker_button = self.no_match.show_weaker_button
        self.clear_filters_button = self.no_match.clear_filters_button
        self.stack.addWidget(self.no_match)
        self.preview = PreviewPanel(self.splitter)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        v.addWidget(self.splitter, 1)
        self.size_slider.setValue(self.view.thumb_size)

    def _connect(self) -> None:
        self.search_edit.textEdited.connect(self._on_text_edited)
        self.search_edit.returnPressed.connect(self.search_now)
        self.search_edit.pasteImage.connect(self.paste)
        self.search_edit.downPressed.connect(self._focus_grid)
        self.bar.similar_close.clicked.connect(self.clear_search)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.size_slider.valueChanged.connect(self._on_thumb_size)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.doubleClicked.connect(lambda idx: self.open_viewer(idx.row()))
        self.view.previewRequested.connect(lambda: self.open_viewer(self.view.currentIndex().row()))
        self.viewer.closed.connect(self.close_viewer)
        self.viewer.detailsRequested.connect(self.detailsRequested)
        self.viewer.openRequested.connect(self.openRequested)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.preview.openRequested.connect(self.openRequested)
        self.preview.revealRequested.connect(self.revealRequested)
        self.preview.similarRequested.connect(self.find_similar)
        self.loader.thumbnailReady.connect(self._on_thumbnail)
        self.loader.imageReady.connect(self.preview.set_image)
        self.show_weaker_button.clicked.connect(self.show_weaker_matches)
        self.clear_filters_button.clicked.connect(self.filter_bar.clear)
        self.filters_button.toggled.connect(self._set_filters_visible)
        self.filter_bar.changed.connect(self._filter_timer.start)
        self.filter_bar.cutoffChanged.connect(self.set_min_score)
        self.chips.chipRemoved.connect(self.remove_chip)
        self.chips.sortChanged.connect(lambda _: self.rerun())

    # Searching ------------------------------------------------------------------------------
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
        self.bar.show_chip(os.path.basename(path), self.loader.thumbnail(path))
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
        self.bar.show_chip(label, QPixmap.fromImage(image.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                                                                  Qt.TransformationMode.FastTransformation)))
        self._submit(Request("similar", image=image, k=int(self.state.get("results_limit", 500)), folder=self._folder(),
                             label=f"images like {label}"))

    def _hide_chip(self) -> None:
        self.bar.hide_chip()
        self._similar_image = None
        self._similar_name = ""

    def clear_search(self) -> None:
        self._search_timer.stop()
        self.search_edit.clear()
        self._hide_chip()
        self.browse()
        self.search_edit.setFocus()

    def rerun(self, refresh: bool = False) -> None:
        """Run the current query again: the index, the folder or the filters changed. With
        `refresh` (the index changed under the same query) the selection stays where it was."""
        req = self.current
        if req is None:
            self.browse()
            return
        self._submit(replace(req, folder=self._folder(), refresh=refresh,
                             min_score=req.min_score if refresh else "auto"))

    def show_weaker_matches(self) -> None:
        """The empty state's button: this query once more, without the relevance cut-off."""
        req = self.current
        if req is not None and req.kind != "browse":
            self._submit(replace(req, min_score="off", refresh=False))

    def remove_chip(self, chip: Any) -> None:
        """Search again without one understood filter; its words go back into the text."""
        req = self.current
        if req is None or req.reading is None:
            return
        reading = req.reading.without(chip, req.filters.with_folder(req.folder))
        self._submit(replace(req, text=reading.text, reading=reading, label=f"“{reading.text}”", refresh=False))

    def _submit(self, req: Request) -> None:
        if req.reading is not None and (req.filters != self.filter_bar.filters()
                                        or req.reading.filters.folder != (req.folder or None)):
            req.reading = None  # the filter bar or the folder changed: read the text again on top of them
        req.filters = self.filter_bar.filters()
        req.sort = self.chips.sort()
        self.current = req
        self.pending_id = self.gate.next()
        if req.kind != "browse":
            loading = not self.ready  # the engine is still starting: the wait is the model loading first
            self.status_bar.showMessage(f"Searching {req.label}…")
            self.wait.start(req.label, loading=loading)
        else:
            self.wait.stop()
        self.searchRequested.emit(self.pending_id, req)

    def _mode(self) -> str:
        data = self.mode_combo.currentData()
        return str(data) if data else (self.cfg.settings.search_mode or "hybrid")

    def set_modes(self, modes: list[str]) -> None:
        """The engine is ready with these search modes."""
        self.bar.set_modes(modes, self.cfg.settings.search_mode)

    @Slot(int, object, object)
    def on_results(self, req_id: int, items: list[ResultItem], info: dict[str, Any]) -> None:
        if req_id != self.pending_id:
            return
        self.wait.stop()
        kind = info.get("kind")
        stay = bool(info.get("refresh") or info.get("streamed"))  # the user's place survives
        keep = self.preview.current_path() if kind == "browse" or stay else ""
        reading = info.get("reading")
        by_date = kind == "browse" or (kind == "text" and (info.get("sort") == "date"
                                                           or bool(reading is not None and reading.only_filters)))
        self.model.set_items(items, show_scores=kind != "browse", by_date=by_date)
        self.chips.set_reading(info.get("reading") if kind == "text" else None)
        n = len(items)
        self._no_match = None
        if n == 0 and (info.get("hidden_by_cutoff") or info.get("filtered")):
            self._no_match = self._no_match_texts(info)
        if kind == "browse":
            folder = self._folder()
            if n == 0:
                if self._indexing():
                    self.view.set_empty_text("Indexing… images appear here as they are added.")
                elif folder:
                    self.view.set_empty_text("No images indexed in this folder yet.")
                elif self.cfg.settings.folders:  # folders added, none of them holds a picture it can read
                    self.view.set_empty_text("No pictures found in your folders. Add pictures to them, or add "
                                             "another folder (Ctrl+O).")
                else:
                    self.view.set_empty_text("Nothing indexed yet: add a folder (Ctrl+O).")
            if folder:
                self.status_bar.showMessage(f"{n} image{'s' if n != 1 else ''} in {folder}", 5000)
        else:
            self.view.set_empty_text(no_results_text(info.get("label", ""), self.clip_waiting) if n == 0 else "")
            self.status_bar.showMessage(f"{n} result{'s' if n != 1 else ''} for {info.get('label', '')} "
                                        f"({info.get('seconds', 0):.2f} s)", 8000)
        if n:
            row = self.model.row_of(keep) if keep else -1
            if stay and row >= 0:
                self.select(self.model.index(row))  # the user's place survives a live refresh
                self.view.scrollTo(self.model.index(row), GridView.ScrollHint.PositionAtCenter)
                if self.preview.item is not None:
                    self.preview.item = self.model.item(row)
            else:
                self.select(self.model.index(max(0, row)))
                self.view.scrollTo(self.model.index(max(0, row)))
        else:
            self.preview.show_item(None)
        self.update_page()
        if info.get("partial"):  # the first screenful: the full answer follows
            self.status_bar.showMessage(f"First {n} results for {info.get('label', '')}, more coming…")
            self.firstResultsShown.emit({**info, "count": n})
            return
        self.resultsShown.emit({**info, "count": n, "paths": [it.hit.path for it in items[:50]]})

    def drop_folder(self, folder: str, keep: list[str]) -> None:
        """A folder was removed: its results leave the grid now, not when its rows are gone."""
        if self.model.drop_folder(folder, keep) and self.model.row_of(self.preview.current_path() or "") < 0:
            self.preview.show_item(None)
            self.update_page()

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
    def on_search_failed(self, req_id: int, text: str, details: str) -> None:
        if req_id != self.pending_id:
            return
        self.wait.stop()
        self._no_match = None
        self.model.clear()
        self.view.set_empty_text(text[:1].upper() + text[1:])
        self.update_page(force_results=True)
        self.bridge.error(text, details)
        self.searchFailed.emit(text)

    def _on_mode_changed(self, _: int) -> None:
        mode = self.mode_combo.currentData()
        if mode and self.ready:
            self.cfg.settings.search_mode = str(mode)
            if self.search_edit.text().strip():
                self.search_now()

    def live_refresh(self) -> None:
        """While the first images arrive, show them (at most every 3 s, and only while the
        grid is browsing and still short, so the user's scroll position is not disturbed)."""
        now = time.monotonic()
        req = self.current
        if req is None or req.kind != "browse" or self.model.rowCount() >= 60 or now - self._last_live_refresh < 3.0:
            return
        self._last_live_refresh = now
        self.browse()

    def update_page(self, force_results: bool = False) -> None:
        """Welcome (nothing indexed, no folder), the friendly no-match page, or the grid."""
        empty = (self._images() == 0 and not self.cfg.settings.folders and self.model.rowCount() == 0
                 and not self._indexing() and not force_results)
        no_match = not empty and self._no_match is not None and self.model.rowCount() == 0
        if no_match:
            self.no_match.show_texts(*self._no_match)  # type: ignore[misc]
        self.stack.setCurrentWidget(self.welcome if empty else self.no_match if no_match else self.view)
        self.preview.setVisible(not empty and not no_match and bool(self.state.get("show_preview", True)))

    # Results and the preview ------------------------------------------------------------------
    def select(self, index: QModelIndex) -> None:
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.view.selectionModel().setCurrentIndex(index, flags)

    def _path_at(self, index: QModelIndex) -> str:
        item = self.model.item(index.row()) if index.isValid() else None
        return item.hit.path if item is not None else ""

    def current_path(self) -> str:
        return self._path_at(self.view.currentIndex())

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedIndexes()})
        paths = [self.model.item(r).hit.path for r in rows if self.model.item(r) is not None]  # type: ignore[union-attr]
        return paths or ([self.current_path()] if self.current_path() else [])

    def _on_current_changed(self, current: QModelIndex, _: QModelIndex) -> None:
        item = self.model.item(current.row()) if current.isValid() else None
        if item is None:
            return
        if item.hit.path == self.preview.current_path():
            return
        self.preview.show_item(item, self.loader.thumbnail(item.hit.path), self.model.show_scores)
        if self.preview.isVisible():
            self.loader.request_image(item.hit.path, time_s=item.hit.time_s)
        self.detailsRequested.emit(item.hit.path)

    # The viewer --------------------------------------------------------------------------------
    def open_viewer(self, row: int) -> bool:
        """Show result `row` in the viewer, filling the tab."""
        if not self.viewer.open(row):
            return False
        self.pages.setCurrentWidget(self.viewer)
        self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)
        self.viewerShown.emit(True)
        return True

    def close_viewer(self, row: int | None = None) -> None:
        """Back to the grid, the picture shown last selected and scrolled to."""
        if self.pages.currentWidget() is not self.viewer:
            return
        row = self.viewer.row if row is None else row
        self.pages.setCurrentWidget(self.grid_page)
        self.viewerShown.emit(False)
        index = self.model.index(row)
        if index.isValid():
            self.select(index)
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def viewer_open(self) -> bool:
        return self.pages.currentWidget() is self.viewer

    def show_preview_of_current(self) -> None:
        if not self.preview.isVisible() and self.preview_toggle is not None:
            self.preview_toggle.setChecked(True)
        item = self.model.item(self.view.currentIndex().row())
        if item is not None:
            self.preview.show_item(item, self.loader.thumbnail(item.hit.path), self.model.show_scores)
            self.loader.request_image(item.hit.path, time_s=item.hit.time_s)
            self.detailsRequested.emit(item.hit.path)

    def _on_thumbnail(self, path: str) -> None:
        pix = self.loader.thumbnail(path)
        if pix is not None:
            self.preview.set_thumbnail(path, pix)
            if path == self._chip_path and self.similar_chip.isVisible():
                self.bar.show_chip(os.path.basename(path), pix)

    def _context_menu(self, pos: Any) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.select(index)
        path = self._path_at(index)
        menu = QMenu(self)
        menu.addAction("View", lambda: self.open_viewer(index.row()))
        menu.addAction("Open with the system viewer", lambda: self.openRequested.emit(path))
        menu.addAction("Show in folder", lambda: self.revealRequested.emit(path))
        menu.addAction("Copy path", self.copy_selected_paths)
        menu.addSeparator()
        menu.addAction("Find similar", lambda: self.find_similar(path))
        self._last_menu = menu
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def copy_selected_paths(self) -> None:
        paths = self.selected_paths()
        if paths:
            QGuiApplication.clipboard().setText("\n".join(paths))
            self.status_bar.showMessage(f"Copied {'the path' if len(paths) == 1 else f'{len(paths)} paths'}", 3000)

    def _focus_grid(self) -> None:
        if self.model.rowCount():
            self.view.setFocus()
            if not self.view.currentIndex().isValid():
                self.select(self.model.index(0))

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def set_preview_visible(self, visible: bool) -> None:
        self.preview.setVisible(visible)
        self.state["show_preview"] = bool(visible)
        if visible and self.current_path():
            self.show_preview_of_current()

    def _on_thumb_size(self, value: int) -> None:
        self.view.set_thumb_size(value)
        self.state["thumb_size"] = self.view.thumb_size

    def larger_thumbnails(self) -> None:
        self.size_slider.setValue(self.size_slider.value() + 30)

    def smaller_thumbnails(self) -> None:
        self.size_slider.setValue(self.size_slider.value() - 30)

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
        return handle_mime(self, mime, source)

    def similar_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Find images like…", os.path.expanduser("~"),
                                              "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff *.heic *.heif);;"
                                              "All files (*)")
        if path:
            self.find_similar(path)

    # Filters and the relevance cut-off -------------------------------------------------------
    def _set_filters_visible(self, visible: bool) -> None:
        self.filter_bar.setVisible(visible)
        self.state["show_filters"] = bool(visible)
        if self.filters_toggle is not None and self.filters_toggle.isChecked() != visible:
            self.filters_toggle.setChecked(visible)
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
        if self.current is not None and self.current.kind != "browse":
            self._search_timer.stop()
            self.rerun()

    def stop_timers(self) -> None:
        self._search_timer.stop()
        self._filter_timer.stop()
