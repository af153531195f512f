"""The results grid's item model.

Rows are ResultItems held in a list; thumbnails are asked for lazily in data(), which the
view calls only for the cells it paints, so a 10,000-row result costs a screenful of decodes.
"""

from __future__ import annotations

import html
import os
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import ResultItem

HitRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
BrokenRole = Qt.ItemDataRole.UserRole + 4
ShowScoreRole = Qt.ItemDataRole.UserRole + 5
GroupRole = Qt.ItemDataRole.UserRole + 6  # how many near-identical pictures this hit stands for (itself included)
MonthRole = Qt.ItemDataRole.UserRole + 7  # "Jul 2023" on the first picture of each month, when listed by date

Index = QModelIndex | QPersistentModelIndex


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def human_date(ts: float | None) -> str:
    if not ts:
        return "unknown"
    try:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "unknown"


def month_marks(items: list[ResultItem]) -> dict[int, str]:
    """Row → "Jul 2023" for the first row of each month in a newest-first list."""
    marks: dict[int, str] = {}
    last = None
    for i, it in enumerate(items):
        ts = it.hit.taken_at if it.hit.taken_at is not None else it.hit.mtime
        try:
            d = datetime.fromtimestamp(ts) if ts else None
        except (OverflowError, OSError, ValueError):
            d = None
        key = (d.year, d.month) if d else None
        if key != last and d is not None:
            marks[i] = d.strftime("%b %Y")
        last = key
    return marks


class ResultsModel(QAbstractListModel):
    def __init__(self, loader: ImageLoader, parent: Any = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._items: list[ResultItem] = []
        self._rows_of: dict[str, list[int]] = {}
        self.show_scores = True
        self.by_date = False
        self.months: dict[int, str] = {}
        loader.thumbnailReady.connect(self._on_thumbnail)

    # Content --------------------------------------------------------------------------------
    def set_items(self, items: list[ResultItem], show_scores: bool = True, by_date: bool = False) -> None:
        """`by_date`: the rows are newest first, so each month's first picture carries its
        month (the grid's date marks)."""
        self.beginResetModel()
        self._items = list(items)
        self.show_scores = show_scores
        self.by_date = by_date
        self.months = month_marks(self._items) if by_date else {}
        self._rows_of = {}
        for i, it in enumerate(self._items):
            self._rows_of.setdefault(it.hit.path, []).append(i)
        self.endResetModel()
        self.loader.forget_queue()

    def clear(self) -> None:
        self.set_items([])

    def drop_folder(self, folder: str, keep: list[str] | tuple[str, ...] = ()) -> int:
        """Take out the results under `folder` (a removed folder), except under a folder of
        `keep` nested inside it (still indexed); returns how many left. Its rows leave the
        index in the background; the grid does not show them meanwhile."""
        def under(path: str, root: str) -> bool:
            root = root.rstrip(os.sep)
            return path == root or path.startswith(root + os.sep)

        nested = [k for k in keep if under(k, folder) and k.rstrip(os.sep) != folder.rstrip(os.sep)]
        stay = [it for it in self._items
                if not under(it.hit.path, folder) or any(under(it.hit.path, k) for k in nested)]
        gone = len(self._items) - len(stay)
        if gone:
            self.set_items(stay, self.show_scores, by_date=self.by_date)
        return gone

    def item(self, row: int) -> ResultItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[ResultItem]:
        return list(self._items)

    def paths(self) -> list[str]:
        return [it.hit.path for it in self._items]

    def row_of(self, path: str) -> int:
        rows = self._rows_of.get(path)
        return rows[0] if rows else -1

    # Qt model -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        it = self._items[index.row()]
        hit = it.hit
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(hit.path)
        if role == Qt.ItemDataRole.DecorationRole:
            pix = self.loader.thumbnail(hit.path)
            if pix is None:
                self.loader.request_thumbnail(hit.path, it.chash)
            return pix
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(it)
        if role == HitRole:
            return hit
        if role == PathRole:
            return hit.path
        if role == ScoreRole:
            return hit.score
        if role == ShowScoreRole:
            return self.show_scores
        if role == BrokenRole:
            return self.loader.broken(hit.path)
        if role == GroupRole:
            return max(1, int(hit.group_size or 1))
        if role == MonthRole:
            return self.months.get(index.row())
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def _tooltip(self, it: ResultItem) -> str:
        h = it.hit
        facts = []
        if self.show_scores:
            facts.append(f"score {h.score:.3f}")
        if h.width and h.height:
            facts.append(f"{h.width}×{h.height}")
        if h.size:
            facts.append(human_size(h.size))
        facts.append(human_date(h.taken_at or h.mtime))
        why = f"<br>matched by: {html.escape(', '.join(h.reasons))}" if h.reasons else ""
        copies = ""
        if h.group_size > 1:
            n = h.group_size - 1
            home = os.path.dirname(h.path)  # copies beside it by name, others by their folder too
            shown = [os.path.basename(p) if os.path.dirname(p) == home else p for p in h.group[:5]]
            names = "<br>".join(f"&nbsp;&nbsp;{html.escape(x)}" for x in shown) + ("<br>&nbsp;&nbsp;…" if len(h.group) > 5 else "")
            copies = (f"<br>+{n} near-identical cop{'ies' if n != 1 else 'y'} folded into this result"
                      + (f":<br>{names}" if names else ""))
        return (f"<b>{html.escape(os.path.basename(h.path))}</b><br>{html.escape(' · '.join(facts))}{why}{copies}"
                f"<br><span style='color:gray'>{html.escape(h.path)}</span>")

    def _on_thumbnail(self, path: str) -> None:
        for row in self._rows_of.get(path, ()):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def mimeData(self, indexes: Any) -> Any:
        """Dragging results out gives file URLs (to a file manager, an editor, a chat)."""
        from PySide6.QtCore import QMimeData, QUrl

        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(self._items[i.row()].hit.path) for i in indexes if i.isValid()])
        return mime

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]
