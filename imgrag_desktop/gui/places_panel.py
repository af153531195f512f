"""The Places tab: the library by place (countries → towns, with counts and the newest photo as
cover) and by time (years → months, with counts). Activating a town, a country or a month
searches for it in the Search tab, through the same reading as a typed query ("in Lisbon",
"July 2023"), so its chip can be removed there. The counts are read on the thread pool."""

from __future__ import annotations

import calendar
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

PATH_ROLE = Qt.ItemDataRole.UserRole
QUERY_ROLE = Qt.ItemDataRole.UserRole + 1


class _Carrier(QObject):
    done = Signal(object, object, str)  # places, timeline, error


class _Load(QRunnable):
    def __init__(self, host: Any, carrier: _Carrier) -> None:
        super().__init__()
        self.host, self.carrier = host, carrier

    def run(self) -> None:
        from imgrag_desktop.search.atlas import places, timeline

        try:
            store = self.host.services.store
            store.refresh()
            self.carrier.done.emit(places(store), timeline(store), "")
        except Exception as exc:  # shown in the panel; the window goes on
            self.carrier.done.emit([], [], str(exc) or type(exc).__name__)


class PlacesPanel(QWidget):
    searchRequested = Signal(str)  # the words to search for ("in Lisbon", "July 2023")

    def __init__(self, host: Any, loader: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host, self.loader = host, loader
        self._carrier = _Carrier(self)
        self._carrier.done.connect(self._show)
        self.loaded = False
        self.loading = False
        v = QVBoxLayout(self)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        v.addWidget(self.note)
        row = QHBoxLayout()
        self.places = QTreeWidget(self)
        self.places.setHeaderLabels(["Place", "Photos"])
        self.places.setAccessibleName("Places")
        self.places.setIconSize(QSize(48, 48))
        self.timeline = QTreeWidget(self)
        self.timeline.setHeaderLabels(["When", "Photos"])
        self.timeline.setAccessibleName("Timeline")
        row.addWidget(self.places, 3)
        row.addWidget(self.timeline, 2)
        v.addLayout(row, 1)
        for tree in (self.places, self.timeline):
            tree.setColumnWidth(0, 280)
            tree.itemActivated.connect(self._activated)
        self.loader.thumbnailReady.connect(self._on_thumbnail)
        self._covers: dict[str, list[QTreeWidgetItem]] = {}

    def refresh(self) -> None:
        """Read the counts again (the tab was shown, or the index changed)."""
        if self.loading:
            return
        self.loading = True
        self.note.setText("Reading places and dates…")
        QThreadPool.globalInstance().start(_Load(self.host, self._carrier))

    def ensure_loaded(self) -> None:
        if not self.loaded:
            self.refresh()

    def _show(self, places: list[dict[str, Any]], years: list[dict[str, Any]], error: str) -> None:
        self.loading, self.loaded = False, True
        self.places.clear()
        self.timeline.clear()
        self._covers = {}
        if error:
            self.note.setText(f"Could not read the places: {error}")
            return
        countries: dict[str, QTreeWidgetItem] = {}
        for p in places:
            name = p["country"] or "No town within 25 km (at sea)"
            top = countries.get(name)
            if top is None:
                top = countries[name] = QTreeWidgetItem(self.places, [name, "0"])
                top.setData(0, QUERY_ROLE, f"in {p['country']}" if p["country"] else "")
                self._cover(top, p["cover"])
            top.setText(1, str(int(top.text(1)) + p["count"]))
            if p["city"]:
                child = QTreeWidgetItem(top, [p["city"], str(p["count"])])
                child.setData(0, QUERY_ROLE, f"in {p['city']}")
                child.setToolTip(0, ", ".join(x for x in (p["city"], p["region"], p["country"]) if x))
                self._cover(child, p["cover"])
        for y in years:
            top = QTreeWidgetItem(self.timeline, [str(y["year"]), str(y["count"])])
            top.setData(0, QUERY_ROLE, str(y["year"]))
            for m in y["months"]:
                child = QTreeWidgetItem(top, [calendar.month_name[m["month"]], str(m["count"])])
                child.setData(0, QUERY_ROLE, f"{calendar.month_name[m['month']]} {y['year']}")
        n = sum(p["count"] for p in places)
        self.note.setText(f"{n} photo{'s' if n != 1 else ''} with a GPS position, in {len(countries)} "
                          f"countr{'ies' if len(countries) != 1 else 'y'}. Photos without GPS are only in the "
                          "timeline. Activate a place or a month to search for it.")

    def _cover(self, item: QTreeWidgetItem, path: str) -> None:
        item.setData(0, PATH_ROLE, path)
        pix = self.loader.thumbnail(path)
        if pix is not None:
            item.setIcon(0, pix)
        else:
            self._covers.setdefault(path, []).append(item)
            self.loader.request_thumbnail(path)

    def _on_thumbnail(self, path: str) -> None:
        pix = self.loader.thumbnail(path)
        for item in self._covers.pop(path, []) if pix is not None else []:
            item.setIcon(0, pix)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        query = item.data(0, QUERY_ROLE)
        if query:
            self.searchRequested.emit(str(query))
