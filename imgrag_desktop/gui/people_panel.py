"""The People tab: one face per person (most photos first), a person's photos, naming inline,
merging by multi-select, hiding.

The faces and people come from the "faces" stage (search/people.py); this panel only shows them
and forwards the user's corrections. A worker on its own QThread reads the tables, crops the
face thumbnails (QImage, never QPixmap, off the GUI thread) and writes corrections while this
process holds the data dir's writer lock for a moment (the indexing job and the watcher share
it, so a correction waits for the batch in flight, never for a whole run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui.messages import MessageBridge, describe_exception

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.gui.workers import EngineHost
    from imgrag_desktop.store.writers import DataDirWriter

FACE = 96  # face thumbnail side
PHOTO = 128
ID_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def _qimage(img: Any) -> QImage:
    rgb = img.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


def face_crop(path: str, box: list[int], side: int = FACE) -> QImage:
    """The face at `box` (original pixels) with a margin, square, `side` pixels."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        before = im.width
        im.draft("RGB", (max(1, im.width // 4), max(1, im.height // 4)))  # a JPEG decodes reduced
        s = im.width / max(1, before)
        img = ImageOps.exif_transpose(im).convert("RGB")
    sx = sy = s
    left, top, right, bottom = box
    m = 0.25 * (right - left)
    crop = img.crop((int((left - m) * sx), int((top - m) * sy), int((right + m) * sx), int((bottom + m) * sy)))
    crop.thumbnail((side, side))
    return _qimage(crop)


class PeopleWorker(QObject):
    listed = Signal(int, object)  # request id, [{"id", "name", "count", "image": QImage | None}, ...]
    photos = Signal(int, object)  # request id, [(path, QImage | None), ...]
    corrected = Signal(str)  # what was done (for the status bar)
    failed = Signal(str, str)

    def __init__(self, host: "EngineHost", writes: "DataDirWriter | None" = None) -> None:
        super().__init__()
        self.host = host
        self.writes = writes

    def _people(self) -> Any:
        from imgrag_desktop.search.people import people_of

        svc = self.host.services
        if not svc.cfg.settings.faces_enabled:
            return None
        svc.store.refresh()
        return people_of(svc.store)

    @Slot(int)
    def list_people(self, req_id: int) -> None:
        try:
            people = self._people()
            out = []
            members = people.members() if people is not None else {}
            for p in (people.listing() if people is not None else []):
                image = None
                cover = p["cover"]
                if cover.get("path"):
                    try:
                        image = face_crop(cover["path"], cover["box"])
                    except Exception:  # an offline or unreadable file: no face shown
                        image = None
                out.append({"id": p["id"], "name": p["name"], "count": p["count"], "image": image,
                            "hashes": frozenset(f["content_hash"] for f in members.get(str(p["id"]), []))})
        except Exception as exc:
            self.failed.emit(*describe_exception(exc))
            return
        self.listed.emit(req_id, out)

    @Slot(int, object)
    def person_photos(self, req_id: int, ident: Any) -> None:
        try:
            from imgrag_desktop.imaging import load_thumbnail
            from imgrag_desktop.search.people import live_paths

            people = self._people()
            if people is None:
                return
            svc = self.host.services
            hashes = people.hashes_of(ident)
            live = live_paths(svc.store)
            out: list[tuple[str, QImage | None]] = []
            for h in sorted(hashes):
                for p in live.get(h, [])[:1]:
                    try:
                        thumb = load_thumbnail(p, svc.cfg.thumbs_dir, h)
                        thumb.thumbnail((PHOTO, PHOTO))
                        out.append((p, _qimage(thumb)))
                    except Exception:
                        out.append((p, None))
        except Exception as exc:
            self.failed.emit(*describe_exception(exc))
            return
        self.photos.emit(req_id, out)

    @Slot(str, object)
    def correct(self, action: str, args: Any) -> None:
        try:
            people = self._people()
            if people is None:
                return
            lock = self.writes.writing() if self.writes is not None else _Nothing()
            with lock:
                if action == "name":
                    people.name(*args)
                    text = f"named {args[1]!r}" if args[1] else "name removed"
                elif action == "merge":
                    into, *others = args
                    for other in others:
                        people.merge(into, other)
                    text = f"merged {len(others) + 1} people"
                elif action == "hide":
                    for ident in args:
                        people.set_flag(ident, "hidden", True)
                    text = f"hid {len(args)} {'person' if len(args) == 1 else 'people'}"
                else:
                    raise ValueError(action)
        except Exception as exc:
            self.failed.emit(*describe_exception(exc))
            return
        self.corrected.emit(text)


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class PeoplePanel(QWidget):
    """The People tab; `refresh()` reads the people again in the background."""

    listRequested = Signal(int)
    photosRequested = Signal(int, object)
    correctionRequested = Signal(str, object)
    openRequested = Signal(str)
    peopleShown = Signal(int)  # how many people are listed
    peopleListed = Signal(object)  # [PersonFilter, ...] of the named people (the filter bar's choices)
    photosShown = Signal(int)

    def __init__(self, host: "EngineHost", bridge: MessageBridge, writes: "DataDirWriter | None" = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("people-panel")
        self.bridge = bridge
        self._req = self._list_req = self._photo_req = 0
        self._filling = False
        self.computed = False
        self.wanted: Any = None  # a person to select once the list arrives
        self._build()
        self.worker_thread = QThread(self)
        self.worker_thread.setObjectName("imgrag-people")
        self.worker = PeopleWorker(host, writes)
        self.worker.moveToThread(self.worker_thread)
        self.worker_thread.finished.connect(self.worker.deleteLater)
        self.listRequested.connect(self.worker.list_people)
        self.photosRequested.connect(self.worker.person_photos)
        self.correctionRequested.connect(self.worker.correct)
        self.worker.listed.connect(self._on_listed)
        self.worker.photos.connect(self._on_photos)
        self.worker.corrected.connect(self._on_corrected)
        self.worker.failed.connect(lambda line, details: self.bridge.error(line, details))
        self.worker_thread.start()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 0)
        top = QHBoxLayout()
        self.summary = QLabel("People", self)
        self.summary.setObjectName("people-summary")
        self.merge_button = QPushButton("Merge selected", self)
        self.merge_button.setToolTip("Select two or more people (Ctrl+click) who are the same person")
        self.merge_button.clicked.connect(self.merge_selected)
        self.hide_button = QPushButton("Hide", self)
        self.hide_button.clicked.connect(self.hide_selected)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.summary, 1)
        for b in (self.merge_button, self.hide_button, self.refresh_button):
            top.addWidget(b)
        outer.addLayout(top)
        hint = QLabel("Double-click a name to type it. Faces are found while indexing, on this computer only.", self)
        hint.setStyleSheet("color: palette(placeholder-text);")
        outer.addWidget(hint)
        split = QSplitter(Qt.Orientation.Vertical, self)
        self.people_list = QListWidget(split)
        self.people_list.setObjectName("people-list")
        self.people_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.people_list.setIconSize(QSize(FACE, FACE))
        self.people_list.setGridSize(QSize(FACE + 40, FACE + 48))
        self.people_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.people_list.setMovement(QListWidget.Movement.Static)
        self.people_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.people_list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                         | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.people_list.itemChanged.connect(self._on_item_changed)
        self.people_list.currentItemChanged.connect(lambda cur, _prev: self.show_person(cur))
        self.photo_list = QListWidget(split)
        self.photo_list.setObjectName("person-photos")
        self.photo_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.photo_list.setIconSize(QSize(PHOTO, PHOTO))
        self.photo_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.photo_list.setMovement(QListWidget.Movement.Static)
        self.photo_list.itemActivated.connect(lambda it: self.openRequested.emit(it.data(PATH_ROLE)))
        split.setSizes([400, 300])
        outer.addWidget(split, 1)

    # --- requests -----------------------------------------------------------------------------
    def refresh(self) -> None:
        self._req += 1
        self._list_req = self._req
        self.summary.setText("Reading people…")
        self.listRequested.emit(self._req)

    def ensure_computed(self) -> None:
        if not self.computed:
            self.computed = True
            self.refresh()

    def show_person(self, item: QListWidgetItem | None) -> None:
        self.photo_list.clear()
        if item is not None:
            self._req += 1
            self._photo_req = self._req
            self.photosRequested.emit(self._req, item.data(ID_ROLE))

    def select_person(self, ident: Any) -> bool:
        """Select the person with this id (a face clicked in the preview); False when not listed."""
        for i in range(self.people_list.count()):
            item = self.people_list.item(i)
            if item.data(ID_ROLE) == ident:
                self.people_list.clearSelection()
                self.people_list.setCurrentItem(item)
                item.setSelected(True)
                return True
        return False

    def selected_ids(self) -> list[Any]:
        return [it.data(ID_ROLE) for it in self.people_list.selectedItems()]

    def merge_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) < 2:
            self.bridge.info("select two or more people to merge (Ctrl+click)")
            return
        # the first selected with a name keeps it (else the one with most photos)
        items = sorted(self.people_list.selectedItems(), key=lambda it: (not it.data(NAME_ROLE), self.people_list.row(it)))
        into = items[0].data(ID_ROLE)
        self.correctionRequested.emit("merge", [into, *[i for i in ids if i != into]])

    def hide_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.correctionRequested.emit("hide", ids)

    def rename(self, ident: Any, name: str) -> None:
        self.correctionRequested.emit("name", (ident, name))

    # --- answers ------------------------------------------------------------------------------
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        name = item.text().split("\n", 1)[0].strip()
        if name != (item.data(NAME_ROLE) or ""):
            self.rename(item.data(ID_ROLE), name)

    @Slot(int, object)
    def _on_listed(self, req_id: int, people: list[dict[str, Any]]) -> None:
        if req_id != self._list_req:  # a newer list is on its way
            return
        wanted, self.wanted = self.wanted, None
        self._filling = True
        self.people_list.clear()
        for p in people:
            label = p["name"] or "Add a name"
            item = QListWidgetItem(f"{label}\n{p['count']} photo{'s' if p['count'] != 1 else ''}")
            item.setData(ID_ROLE, p["id"])
            item.setData(NAME_ROLE, p["name"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"person {p['id']}: {p['count']} photos")
            if p["image"] is not None:
                item.setIcon(QIcon(QPixmap.fromImage(p["image"])))
            self.people_list.addItem(item)
        self._filling = False
        n = len(people)
        self.summary.setText(f"{n} {'person' if n == 1 else 'people'}" if n else
                             "No people yet: faces are grouped into people as photos are indexed")
        if wanted is not None:
            self.select_person(wanted)
        from imgrag_desktop.search.filters import PersonFilter

        self.peopleListed.emit([PersonFilter(p["name"], p["hashes"]) for p in people if p["name"]])
        self.peopleShown.emit(n)

    @Slot(int, object)
    def _on_photos(self, req_id: int, photos: list[tuple[str, QImage | None]]) -> None:
        if req_id != self._photo_req:
            return
        self.photo_list.clear()
        for path, image in photos:
            item = QListWidgetItem(path.rsplit("/", 1)[-1])
            item.setData(PATH_ROLE, path)
            item.setToolTip(path)
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            self.photo_list.addItem(item)
        self.photosShown.emit(len(photos))

    @Slot(str)
    def _on_corrected(self, text: str) -> None:
        self.bridge.info(text)
        self.refresh()

    def shutdown(self, wait_ms: int = 60_000) -> bool:
        self.worker_thread.quit()
        return bool(self.worker_thread.wait(wait_ms))


