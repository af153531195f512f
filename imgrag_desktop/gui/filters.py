"""The filter bar under the search field: kind, shape, date, minimum size, camera, rating, tag,
media (photo, RAW, video, Live Photo), person, and the relevance cut-off.

The bar only collects choices, as a `search.Filters`; a worker turns them into one LanceDB
filter (`Filters.where`), so every filter runs inside the store, for browsing, text search
and look-alikes alike. The cut-off is the user's `Settings.min_score`: "Auto"
(None: the model's calibrated cut-off when it has one), "Off" (-1) or a fixed score.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Callable

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from imgrag_desktop.gui.flow_layout import FlowLayout
from imgrag_desktop.search.filters import Filters

KIND_CHOICES = [("", "Any kind"), ("photo", "Photos"), ("screenshot", "Screenshots"), ("document", "Documents")]
SHAPE_CHOICES = [("", "Any shape"), ("landscape", "Landscape"), ("portrait", "Portrait"), ("square", "Square")]
DATE_CHOICES = [("", "Any time"), ("today", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
                ("year", "This year"), ("last-year", "Last year"), ("custom", "Between…")]
CUTOFF_AUTO, CUTOFF_OFF, CUTOFF_FIXED = "auto", "off", "fixed"
DEFAULT_FIXED = 0.25


def date_range(choice: str, start: date | None = None, end: date | None = None,
               today: date | None = None) -> tuple[float | None, float | None]:
    """A date choice → (from, to) timestamps at local midnight; `to` is exclusive (the day
    after the last day shown), as search.Filters compares `date < to`."""
    today = today or date.today()

    def ts(d: date) -> float:
        return datetime(d.year, d.month, d.day).timestamp()

    if choice == "today":
        return ts(today), ts(today + timedelta(days=1))
    if choice == "7d":
        return ts(today - timedelta(days=6)), None
    if choice == "30d":
        return ts(today - timedelta(days=29)), None
    if choice == "year":
        return ts(date(today.year, 1, 1)), None
    if choice == "last-year":
        return ts(date(today.year - 1, 1, 1)), ts(date(today.year, 1, 1))
    if choice == "custom" and start is not None and end is not None:
        lo, hi = min(start, end), max(start, end)
        return ts(lo), ts(hi + timedelta(days=1))
    return None, None


def _group(parent: QWidget, *widgets: QWidget) -> QWidget:
    """Widgets that stay side by side when the filter bar wraps."""
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(6)
    for w in widgets:
        row.addWidget(w)
    return box


class FilterBar(QFrame):
    changed = Signal()  # a filter changed (text fields: after a short pause)
    cutoffChanged = Signal(object)  # the new Settings.min_score: None (auto), -1 (off) or a number

    def __init__(self, parent: QWidget | None = None, today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self.setObjectName("filter-bar")
        self._today = today
        self._calibrated: dict[str, float | None] = {}
        self._dates_ready = False  # the custom range starts at this month once chosen
        lay = FlowLayout(self)  # wraps onto a second line in a narrow window

        self.kind = self._combo(KIND_CHOICES, "Only this kind of image (from the file's look: photo, screenshot, "
                                              "scanned document)")
        self.shape = self._combo(SHAPE_CHOICES, "Only landscape, portrait or square images")
        self.when = self._combo(DATE_CHOICES, "When the picture was taken (EXIF), else when the file was last changed")
        self.date_from = self._date_edit("First day")
        self.date_to = self._date_edit("Last day")
        self.date_dash = QLabel("–", self)
        self.min_size = QSpinBox(self)
        self.min_size.setRange(0, 20000)
        self.min_size.setSingleStep(100)
        self.min_size.setSuffix(" px")
        self.min_size.setSpecialValueText("Any size")
        self.min_size.setAccessibleName("Minimum size")
        self.min_size.setToolTip("Hide images whose width or height is below this many pixels")
        self.min_size.setKeyboardTracking(False)
        self.camera = QLineEdit(self)
        self.camera.setPlaceholderText("Camera")
        self.camera.setAccessibleName("Camera")
        self.camera.setToolTip("Only pictures from a camera whose make or model contains this text (EXIF)")
        self.camera.setClearButtonEnabled(True)
        self.camera.setMaximumWidth(150)
        self.camera.setMinimumWidth(70)
        self.rating = self._combo([("", "Any rating"), *((str(n), "★" * n + "+") for n in range(1, 6))],
                                  "Only photos rated at least this (the rating written by digiKam, Lightroom, darktable "
                                  "or a phone: XMP/IPTC)")
        self.media = self._combo([("", "All files"), ("photo", "Photos"), ("raw", "RAW"), ("video", "Videos"),
                                  ("live", "Live Photos")], "Only photos, RAW files, videos or Live/Motion Photos")
        self.tag = QLineEdit(self)
        self.tag.setPlaceholderText("Tag")
        self.tag.setAccessibleName("Tag")
        self.tag.setToolTip("Only photos keyworded with this tag (in the file or its XMP sidecar; a level of a "
                            "hierarchical tag matches too; commas: any of them)")
        self.tag.setClearButtonEnabled(True)
        self.tag.setMaximumWidth(130)
        self.tag.setMinimumWidth(60)
        self.offline = QCheckBox("Offline folders", self)
        self.offline.setChecked(True)
        self.offline.setToolTip("Also show photos of folders that are offline (an unplugged drive, a share that "
                                "does not answer): their thumbnails stay; open them once the folder is back")
        self.offline_source: Callable[[], tuple[str, ...]] = tuple  # the window: FoldersPanel.offline_folders
        self.person = QComboBox(self)  # filled from the People tab's list; hidden until someone is known
        self.person.addItem("Anyone", None)
        self.person.setToolTip("Only photos of this person (the People tab names them)")
        self.person.setAccessibleName("Person")
        self.person.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.person.setVisible(False)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("Clear")
        self.clear_button.setAutoRaise(True)
        self.clear_button.setToolTip("Remove every filter")
        sep = QFrame(self)
        sep.setFrameShape(QFrame.Shape.VLine)
        sep.setFrameShadow(QFrame.Shadow.Sunken)
        self.cutoff_label = QLabel("Relevance", self)
        self.cutoff = QComboBox(self)
        self.cutoff.setAccessibleName("Relevance cut-off")
        for key, text in ((CUTOFF_AUTO, "Auto"), (CUTOFF_OFF, "Off"), (CUTOFF_FIXED, "At least")):
            self.cutoff.addItem(text, key)
        self.cutoff_value = QDoubleSpinBox(self)
        self.cutoff_value.setRange(-1.0, 1.0)
        self.cutoff_value.setDecimals(2)
        self.cutoff_value.setSingleStep(0.01)
        self.cutoff_value.setValue(DEFAULT_FIXED)
        self.cutoff_value.setAccessibleName("Minimum score")
        self.cutoff_value.setToolTip("Hide results scoring below this (the score shown when you hover a result)")
        self.cutoff_value.setKeyboardTracking(False)
        self.dates_group = dates = _group(self, self.date_from, self.date_dash, self.date_to)  # a range wraps as one
        self.relevance_group = _group(self, sep, self.cutoff_label, self.cutoff, self.cutoff_value)
        for w in (self.kind, self.shape, self.when, dates, self.min_size, self.camera, self.rating, self.tag,
                  self.media, self.person, self.offline, self.clear_button, self.relevance_group):
            lay.addWidget(w)
        self.cutoff_value.setEnabled(False)
        self._update_cutoff_tip()
        self._show_dates()

        self._camera_timer = QTimer(self)
        self._camera_timer.setSingleShot(True)
        self._camera_timer.setInterval(400)
        self._camera_timer.timeout.connect(self.changed)
        for combo in (self.kind, self.shape, self.person, self.rating, self.media):
            combo.currentIndexChanged.connect(lambda *_: self._emit())
        self.when.currentIndexChanged.connect(self._on_when)
        self.date_from.dateChanged.connect(lambda *_: self._emit())
        self.date_to.dateChanged.connect(lambda *_: self._emit())
        self.min_size.valueChanged.connect(lambda *_: self._emit())
        self.offline.toggled.connect(lambda *_: self._emit())
        self.camera.textEdited.connect(lambda *_: self._camera_timer.start())
        self.tag.textEdited.connect(lambda *_: self._camera_timer.start())
        self.tag.returnPressed.connect(self._camera_now)
        self.camera.returnPressed.connect(self._camera_now)
        self.clear_button.clicked.connect(self.clear)
        self.cutoff.currentIndexChanged.connect(self._on_cutoff)
        self.cutoff_value.valueChanged.connect(self._on_cutoff)
        self._update_clear()

    # Building blocks ------------------------------------------------------------------------
    def _combo(self, choices: list[tuple[str, str]], tip: str) -> QComboBox:
        c = QComboBox(self)
        for key, text in choices:
            c.addItem(text, key)
        c.setToolTip(tip)
        c.setAccessibleName(tip.split(" (")[0])
        c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        return c

    def _date_edit(self, name: str) -> QDateEdit:
        d = QDateEdit(self)
        d.setCalendarPopup(True)
        d.setDisplayFormat("yyyy-MM-dd")
        d.setAccessibleName(name)
        d.setToolTip(f"{name} of the range (included)")
        return d

    # Filters --------------------------------------------------------------------------------
    def filters(self) -> Filters:
        """The bar's choices (the folder comes from the folder list)."""
        lo, hi = date_range(str(self.when.currentData() or ""), self.date_from.date().toPython(),  # type: ignore[arg-type]
                            self.date_to.date().toPython(), self._today())  # type: ignore[arg-type]
        side = int(self.min_size.value())
        person = self.person.currentData()
        return Filters(kind=self.kind.currentData() or None, orientation=self.shape.currentData() or None,
                       date_from=lo, date_to=hi, min_width=side or None, min_height=side or None,
                       camera=self.camera.text().strip() or None, people=(person,) if person is not None else (),
                       rating=int(self.rating.currentData() or 0) or None, tag=self.tag.text().strip() or None,
                       media=self.media.currentData() or None,
                       exclude_roots=() if self.offline.isChecked() else tuple(self.offline_source()))

    def active_count(self) -> int:
        return sum(1 for on in (self.kind.currentData(), self.shape.currentData(), self.when.currentData(),
                                self.min_size.value(), self.camera.text().strip(), self.rating.currentData(),
                                self.tag.text().strip(), self.media.currentData(),
                                self.person.currentData() is not None) if on)

    def set_people(self, people: list[Any]) -> None:
        """The people to choose from: PersonFilter objects (name and photos), most photos first.
        The chosen one stays chosen when it is still there (its photos brought up to date)."""
        current = self.person.currentData()
        self.person.blockSignals(True)
        try:
            self.person.clear()
            self.person.addItem("Anyone", None)
            for p in people:
                self.person.addItem(p.name, p)
            keep = next((i for i in range(1, self.person.count())
                         if current is not None and self.person.itemData(i).name == current.name), 0)
            self.person.setCurrentIndex(keep)
        finally:
            self.person.blockSignals(False)
        self.person.setVisible(bool(people))
        if current is not None and (keep == 0 or self.person.currentData() != current):
            self._emit()

    def set_filters(self, kind: str = "", orientation: str = "", when: str = "", min_size: int = 0,
                    camera: str = "", date_from: date | None = None, date_to: date | None = None,
                    person: str = "", rating: int = 0, tag: str = "", media: str = "") -> None:
        """Set every filter at once (one `changed`); for automation and tests."""
        self.blockSignals(True)
        try:
            self.kind.setCurrentIndex(max(0, self.kind.findData(kind or "")))
            self.shape.setCurrentIndex(max(0, self.shape.findData(orientation or "")))
            if date_from is not None or date_to is not None:
                self._dates_ready = True
            if date_from is not None:
                self.date_from.setDate(QDate(date_from.year, date_from.month, date_from.day))
            if date_to is not None:
                self.date_to.setDate(QDate(date_to.year, date_to.month, date_to.day))
            self.when.setCurrentIndex(max(0, self.when.findData(when or "")))
            self.min_size.setValue(int(min_size))
            self.camera.setText(camera)
            self.rating.setCurrentIndex(max(0, self.rating.findData(str(rating) if rating else "")))
            self.tag.setText(tag)
            self.media.setCurrentIndex(max(0, self.media.findData(media or "")))
            self.person.setCurrentIndex(max(0, self.person.findText(person)) if person else 0)
        finally:
            self.blockSignals(False)
        self._show_dates()
        self._emit()

    def clear(self) -> None:
        if self.active_count():
            self.set_filters()

    def _on_when(self, *_: Any) -> None:
        if self.when.currentData() == "custom" and not self._dates_ready:
            self._dates_ready = True
            today = self._today()
            self.date_from.blockSignals(True)
            self.date_to.blockSignals(True)
            self.date_from.setDate(QDate(today.year, today.month, 1))
            self.date_to.setDate(QDate(today.year, today.month, today.day))
            self.date_from.blockSignals(False)
            self.date_to.blockSignals(False)
        self._show_dates()
        self._emit()

    def _show_dates(self) -> None:
        custom = self.when.currentData() == "custom"
        for w in (self.date_from, self.date_dash, self.date_to):
            w.setVisible(custom)
        self.dates_group.setVisible(custom)

    def _camera_now(self) -> None:
        self._camera_timer.stop()
        self._emit()

    def _emit(self) -> None:
        self._update_clear()
        self.changed.emit()

    def _update_clear(self) -> None:
        self.clear_button.setEnabled(self.active_count() > 0)

    # Relevance cut-off ----------------------------------------------------------------------
    def cutoff_setting(self) -> float | None:
        """The Settings.min_score these controls stand for."""
        key = self.cutoff.currentData()
        if key == CUTOFF_OFF:
            return -1.0
        if key == CUTOFF_FIXED:
            return float(self.cutoff_value.value())
        return None

    def set_cutoff(self, min_score: float | None, emit: bool = False) -> None:
        """Show a Settings.min_score (None: auto, -1 or less: off, else a fixed score)."""
        self.cutoff.blockSignals(True)
        self.cutoff_value.blockSignals(True)
        try:
            if min_score is None:
                key = CUTOFF_AUTO
            elif float(min_score) <= -1:
                key = CUTOFF_OFF
            else:
                key = CUTOFF_FIXED
                self.cutoff_value.setValue(float(min_score))
            self.cutoff.setCurrentIndex(self.cutoff.findData(key))
        finally:
            self.cutoff.blockSignals(False)
            self.cutoff_value.blockSignals(False)
        self.cutoff_value.setEnabled(key == CUTOFF_FIXED)
        self._update_cutoff_tip()
        if emit:
            self.cutoffChanged.emit(self.cutoff_setting())

    def set_calibrated(self, cutoffs: dict[str, float | None]) -> None:
        """The model's calibrated cut-offs, shown in the Auto choice's tooltip."""
        self._calibrated = {k: v for k, v in (cutoffs or {}).items() if v is not None}
        self._update_cutoff_tip()

    def _on_cutoff(self, *_: Any) -> None:
        key = self.cutoff.currentData()
        if key == CUTOFF_FIXED and not self.cutoff_value.isEnabled() and self._calibrated.get("text") is not None:
            self.cutoff_value.blockSignals(True)
            self.cutoff_value.setValue(float(self._calibrated["text"]))  # type: ignore[arg-type]  # start from what Auto used
            self.cutoff_value.blockSignals(False)
        self.cutoff_value.setEnabled(key == CUTOFF_FIXED)
        self._update_cutoff_tip()
        self.cutoffChanged.emit(self.cutoff_setting())

    def _update_cutoff_tip(self) -> None:
        if self._calibrated:
            cal = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self._calibrated.items()))
            auto = f"Auto: the cut-off calibrated for this image model ({cal})"
        else:
            auto = "Auto: the model's calibrated cut-off (this model is not calibrated: nothing is hidden)"
        tips = {CUTOFF_AUTO: auto, CUTOFF_OFF: "Off: show the best results however weak they are",
                CUTOFF_FIXED: "At least: hide results scoring below the number on the right"}
        for i in range(self.cutoff.count()):
            self.cutoff.setItemData(i, tips[self.cutoff.itemData(i)], Qt.ItemDataRole.ToolTipRole)
        self.cutoff.setToolTip("Relevance cut-off: hide weak matches. " + tips[self.cutoff.currentData() or CUTOFF_AUTO])
