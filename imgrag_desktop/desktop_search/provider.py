"""What the desktop's search asks for, answered from a search callable (no D-Bus here).

GNOME Shell asks for result ids (`GetInitialResultSet`, then `GetSubsearchResultSet` as the
user types on), then for the metas of the few it shows (name, description, icon), and calls
`ActivateResult` on a click or `LaunchSearch` on "show more in the app". KRunner asks for
matches with their text, subtext and icon in one call (`Match`) and `Run`s one. The ids here
are the photos' absolute paths: what the user gets is the file, whoever asks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, NamedTuple

from imgrag_desktop.desktop_search import MAX_RESULTS, MIN_CHARS

log = logging.getLogger(__name__)

# text, limit → hits as `imgrag search --json` lists them (dicts with "path", "taken_at", …)
SearchFn = Callable[[str, int], list[dict[str, Any]]]
ICON_SIDE = 64  # KRunner's icon-data: a list row's icon, a few KB per match
KRUNNER_POSSIBLE_MATCH = 30  # Plasma::QueryMatch::PossibleMatch: below apps and exact answers
KRUNNER_ACTIONS = (("similar", "Find look-alikes in imgrag", "edit-find"),
                   ("folder", "Open the containing folder", "folder-open"))


class Actions(NamedTuple):
    """What activation does; the command line passes the real ones (cli/commands/desktop_search.py)."""

    open_photo: Callable[[str], None]  # a result clicked
    launch_search: Callable[[str], None]  # "more results": the window with this query
    find_similar: Callable[[str], None]  # KRunner's look-alikes action: the window with this photo
    open_folder: Callable[[str], None]  # KRunner's folder action


def query_text(terms: list[str] | tuple[str, ...]) -> str:
    """GNOME sends the typed words split at spaces; the search reads them joined again."""
    return " ".join(t.strip() for t in terms if t and t.strip())


class Thumbnails:
    """The index's own cached thumbnail of a photo (data dir/thumbs/ab/<hash>.jpg), found by
    the file's content hash as the indexer computed it; made there when it is missing."""

    def __init__(self, thumbs_dir: Path | None, cache_size: int = 512) -> None:
        self.thumbs_dir = thumbs_dir
        self._cache: OrderedDict[tuple[str, int, int], Path | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def path_for(self, path: str) -> Path | None:
        if self.thumbs_dir is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._find(path)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def _find(self, path: str) -> Path | None:
        from imgrag_desktop import imaging
        from imgrag_desktop.video import is_video_name, video_hash

        assert self.thumbs_dir is not None
        try:
            chash = video_hash(path) if is_video_name(path) else imaging.content_hash(imaging.read_file(path))
            thumb = imaging.thumbnail_path(self.thumbs_dir, chash)
            if not thumb.exists() and not is_video_name(path):
                imaging.load_thumbnail(path, self.thumbs_dir, chash)  # caches it, as the window would
            return thumb if thumb.exists() else None
        except Exception as exc:  # an unreadable file: the generic icon
            log.debug("no thumbnail for %s: %s", path, exc)
            return None

    def icon_data(self, path: str, side: int = ICON_SIDE) -> tuple[int, int, int, bool, int, int, bytes] | None:
        """The thumbnail as raw RGB pixels, the `(iiibiiay)` both desktops accept as icon data."""
        thumb = self.path_for(path)
        if thumb is None:
            return None
        try:
            from PIL import Image

            with Image.open(thumb) as im:
                im.draft("RGB", (side, side))
                small = im.convert("RGB")
            small.thumbnail((side, side))
            w, h = small.size
            return (w, h, 3 * w, False, 8, 3, small.tobytes())
        except OSError:
            return None


def describe(hit: dict[str, Any], home: str | None = None) -> str:
    """The second line under a result: its folder (~ for home) and its date."""
    path = str(hit.get("path", ""))
    folder = os.path.dirname(path)
    home = home if home is not None else os.path.expanduser("~")
    if home and (folder == home or folder.startswith(home.rstrip(os.sep) + os.sep)):
        folder = "~" + folder[len(home.rstrip(os.sep)):]
    when = hit.get("taken_at") or hit.get("mtime")
    parts = [folder]
    if isinstance(when, (int, float)) and when > 0:
        parts.append(time.strftime("%-d %b %Y", time.localtime(float(when))))
    return " · ".join(p for p in parts if p)


class Provider:
    """The answers of both desktop interfaces; every method is safe to call from any thread."""

    def __init__(self, search: SearchFn, actions: Actions, thumbs_dir: Path | None = None,
                 limit: int = MAX_RESULTS, min_chars: int = MIN_CHARS) -> None:
        self.search = search
        self.actions = actions
        self.thumbs = Thumbnails(thumbs_dir)
        self.limit = max(1, int(limit))
        self.min_chars = max(1, int(min_chars))
        self._hits: OrderedDict[str, dict[str, Any]] = OrderedDict()  # path → the hit it was last returned as
        self._lock = threading.Lock()

    # -- searching -------------------------------------------------------------------------------
    def results(self, text: str) -> list[str]:
        """The ids (paths) of the best hits for `text`; nothing for fewer than `min_chars`."""
        text = text.strip()
        if len(text) < self.min_chars:
            return []
        hits = self.search(text, self.limit)
        ids: list[str] = []
        with self._lock:
            for hit in hits:
                path = hit.get("path")
                if not isinstance(path, str) or path in ids:
                    continue
                ids.append(path)
                self._hits[path] = hit
                self._hits.move_to_end(path)
            while len(self._hits) > 50 * self.limit:
                self._hits.popitem(last=False)
        return ids[: self.limit]

    def initial(self, terms: list[str]) -> list[str]:
        return self.results(query_text(terms))

    def subsearch(self, previous: list[str], terms: list[str]) -> list[str]:
        """A new search, not a filter of the previous ids: with one more word the best photos
        change (a semantic ranking is not a narrowing of the last one)."""
        return self.results(query_text(terms))

    def hit(self, path: str) -> dict[str, Any]:
        with self._lock:
            known = self._hits.get(path)
        return known if known is not None else {"path": path}

    def _result_file(self, path: str) -> str:
        """Only a result this service returned, still a file, is opened (any caller on the bus
        could send any string)."""
        with self._lock:
            known = path in self._hits
        if not known or not os.path.isfile(path):
            raise ValueError(f"not a photo this search returned: {path!r}")
        return path

    # -- what the desktop shows ---------------------------------------------------------------------
    def metas(self, ids: list[str]) -> list[dict[str, Any]]:
        """GNOME's result metas, as plain values: id, name, description, the thumbnail's path."""
        out = []
        for path in ids:
            hit = self.hit(path)
            thumb = self.thumbs.path_for(path)
            out.append({"id": path, "name": os.path.basename(path) or path, "description": describe(hit),
                        "thumbnail": str(thumb) if thumb is not None else None, "clipboardText": path})
        return out

    def krunner_matches(self, query: str) -> list[tuple[str, str, str, int, float, dict[str, Any]]]:
        """KRunner's matches: id, text, icon name, type, relevance, properties (subtext, urls,
        icon-data)."""
        out = []
        for rank, path in enumerate(self.results(query)):
            props: dict[str, Any] = {"subtext": describe(self.hit(path)), "urls": [Path(path).as_uri()],
                                     "category": "Photos (imgrag)"}
            icon = self.thumbs.icon_data(path)
            if icon is not None:
                props["icon-data"] = icon
            out.append((path, os.path.basename(path) or path, "image-x-generic", KRUNNER_POSSIBLE_MATCH,
                        round(max(0.05, 0.7 - 0.03 * rank), 3), props))
        return out

    # -- activation -----------------------------------------------------------------------------------
    def activate(self, path: str) -> None:
        self.actions.open_photo(self._result_file(path))

    def launch(self, terms: list[str] | str) -> None:
        self.actions.launch_search(terms if isinstance(terms, str) else query_text(terms))

    def krunner_run(self, path: str, action: str) -> None:
        path = self._result_file(path)
        if action == "similar":
            self.actions.find_similar(path)
        elif action == "folder":
            self.actions.open_folder(path)
        else:
            self.actions.open_photo(path)


