"""What the library holds, and the rules for taking a folder out of it.

Computed here once for `imgrag status`, `imgrag folders` and the window alike, so the numbers a
user sees in the status bar and on the command line are the same numbers.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Sequence

from imgrag_desktop.types import Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services
    from imgrag_desktop.store import Store


def counts(store: "Store") -> dict[str, int]:
    """The two numbers the window's status bar shows: rows indexed and files skipped."""
    return {"images": store.count(), "failed": store.failure_count()}


def window_counts(store: "Store") -> dict[str, Any]:
    """The status bar's numbers, and the items per media kind for its tooltip."""
    from imgrag_desktop.indexing.media import media_counts

    return {**counts(store), "media": media_counts(store)}


def library_stats(svc: "Services", failures: bool = False) -> dict[str, Any]:
    """Everything `imgrag status` reports: counts, kinds, models, pending later stages, tiles and
    the relevance cut-off of the configured model (left out when that model cannot load)."""
    store = svc.store
    data: dict[str, Any] = {
        **counts(store),
        "folders": svc.cfg.settings.folders,
        "data_dir": str(svc.cfg.data_dir),
        "profile": svc.cfg.profile,
    }
    n = data["images"]
    if n:
        cols = store.query(None, ["kind", "clip_model", "ocr_status", "caption_status", "textual"])
        data["kinds"] = dict(collections.Counter(cols.column("kind").to_pylist()))
        data["clip_models"] = dict(collections.Counter(cols.column("clip_model").to_pylist()))
        data["ocr_pending"] = cols.column("ocr_status").to_pylist().count("pending")
        data["caption_pending"] = cols.column("caption_status").to_pylist().count("pending")
        data["text_vectors"] = n - cols.column("textual").null_count
        data["visual_pending"] = data["clip_models"].get("", 0)  # indexed before CLIP was downloaded
        try:  # a CLIP switch under way (indexing/reembed.py): the old model serves until it is done
            from imgrag_desktop.indexing.reembed import status as reembed_status

            data.update(reembed_status(store, svc.clip, svc.clip_next))
        except ImgragError:
            pass
        try:
            from imgrag_desktop.search.calibration import CalibrationBook
            from imgrag_desktop.search.tiles import TileTable

            model_id = svc.clip.model_id
            data["tiles"] = TileTable(svc.cfg.db_dir).count(model_id)
            cal = CalibrationBook(svc.cfg.data_dir).get(model_id)
            data["cutoff"] = {"text": cal.threshold("text"), "image": cal.threshold("image"),
                              "source": cal.source} if cal is not None else None
        except ImgragError:  # the model is not available: status still works
            pass
    from imgrag_desktop.indexing import media

    if n:
        data["media"] = media.media_counts(store)
    data["skipped_types"] = media.skipped_types(svc.cfg.data_dir)  # files the scans left out, by extension
    data["failed_types"] = media.failed_by_type(store) if data.get("failed") else {}
    if failures:
        data["failures"] = [{"path": f["path"], "reason": f["reason"], "stage": f["stage"]}
                            for f in store.list_failures()]
    return data


def remember_folders(cfg: Any, roots: Sequence[str]) -> list[str]:
    """Add the folders among `roots` to the library's folder list (saved); the ones added."""
    import os

    folders = cfg.settings.folders
    added = [r for r in dict.fromkeys(roots) if os.path.isdir(r) and r not in folders]
    if added:
        folders.extend(added)
        cfg.save()
    return added


def removal_filter(folder: str, keep: Sequence[str]) -> str | None:
    """The rows that go when `folder` leaves the library while `keep` stay in it.

    None when a folder that stays covers `folder` (its images are still wanted); a folder that
    stays inside `folder` keeps its rows."""
    from imgrag_desktop.indexing.scanner import is_within
    from imgrag_desktop.store import folder_filter

    if any(is_within(folder, [k]) for k in keep if k != folder):
        return None
    where = folder_filter(folder)
    nested = [k for k in keep if k != folder and is_within(k, [folder])]
    if nested:
        where = f"({where}) AND NOT ({' OR '.join(folder_filter(k) for k in nested)})"
    return where


def remove_folder_rows(store: "Store", folder: str, keep: Sequence[str]) -> int:
    """Drop the rows (and skip records) of `folder`; the photos themselves are never touched.
    Returns how many rows went. The caller holds the writer lock."""
    where = removal_filter(folder, keep)
    if where is None:
        return 0
    before = store.count()
    store.delete_where(where)
    store.clear_failures_where(where)
    return before - store.count()


class VectorSizeMismatch(ImgragError):
    """The index was built by a CLIP model whose vectors have another size: a rebuild fixes it."""


REBUILD_COMMAND = "re-index with `imgrag index --rebuild PATH...`"
REBUILD_IN_WINDOW = "rebuild the index to use this model"


def check_vector_size(svc: "Services", rebuild: bool = False, remedy: str = REBUILD_COMMAND) -> None:
    """Vectors of different models are never compared: before anything writes or watches, the
    configured model must make vectors of the size the index holds. With `rebuild`, a mismatch
    drops the images table instead (the caller holds the writer lock). `remedy` is the fix in
    the words of the front end that asks (a command to type, or the window's Rebuild button)."""
    store, clip = svc.store, svc.clip
    dim = store.visual_dim
    if dim is None:
        return
    try:
        clip.load()
        made: int | None = clip.dim
    except ModelUnavailable:  # not downloaded yet: its architecture still says the size
        expected = getattr(clip, "expected_dim", None)
        made = expected() if callable(expected) else None
        if made is None:
            return
    if dim != made:
        if not rebuild:
            raise VectorSizeMismatch(
                f"the index holds {dim}-dimensional vectors but model {clip.model_id} makes {made}: {remedy}")
        store.drop_images()
        svc.reset_models()  # an empty index: the model the settings name serves (indexing/reembed.py)


BROWSE_COLUMNS = ["path", "size", "mtime_ns", "width", "height", "taken_at", "date", "kind", "content_hash"]


def browse(store: "Store", where: str | None, limit: int) -> list[tuple[Hit, str]]:
    """Every indexed image under `where`, newest first, with the content hash that names its
    cached thumbnail: the window's grid before anything is searched, and the same rows for any
    other front end that lists the library."""
    store.refresh()
    tbl = store.query(where, BROWSE_COLUMNS)
    if tbl.num_rows == 0:
        return []
    rows = tbl.to_pylist()
    rows.sort(key=lambda r: (r.get("date") or 0.0, r["path"]), reverse=True)
    out = []
    for r in rows[:limit]:
        out.append((Hit.from_row(r), r.get("content_hash") or ""))
    return out
