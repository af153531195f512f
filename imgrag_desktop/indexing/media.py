"""One item per photo, whatever files it is made of: RAW+JPEG pairs, Live Photos and Motion Photos.

* A RAW file and a JPEG/HEIC with the same stem in the same folder (what cameras write in
  RAW+JPEG mode) are one photo: the row is the JPEG's (its path is the hit's `path`, decoding
  it is fast), and `files` lists both. The RAW alone (no JPEG beside it) is a row of its own.
* An Apple Live Photo is a still (HEIC/JPG) and a short MOV with the same stem: one item
  (`media` "live"), the clip in `files`. A clip longer than LIVE_MAX_S is not a Live Photo's:
  it stays a video of its own.
* A Google/Samsung Motion Photo is one JPEG with an MP4 inside (XMP `GCamera:MotionPhoto`,
  `MicroVideo`, or Samsung's `MotionPhoto_Data` trailer): one file, `media` "live".

`media` is photo | raw | video | live; `imgrag status` counts them.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterable, Sequence

from imgrag_desktop.imaging_raw import is_raw_name
from imgrag_desktop.video import is_video_name, probe

STILL_EXTENSIONS = (".jpg", ".jpeg", ".heic", ".heif", ".hif", ".jpe")  # preferred in this order
LIVE_CLIP_EXTENSIONS = (".mov", ".mp4")
LIVE_MAX_S = 15.0


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def live_clip(path: str) -> bool:
    """A short clip: what a Live Photo's MOV is (a few seconds)."""
    info = probe(path)
    return info is not None and info.duration_s is not None and info.duration_s <= LIVE_MAX_S


def still_content_id(path: str) -> str:
    """Apple's Live Photo pairing key of a still: tag 0x11 of the Apple MakerNote, or ""."""
    import struct
    import warnings

    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                note = img.getexif().get_ifd(0x8769).get(0x927C)
    except Exception:
        return ""
    if not isinstance(note, bytes) or not note.startswith(b"Apple iOS\x00") or len(note) < 16:
        return ""
    try:
        end = ">" if note[12:14] == b"MM" else "<"
        (count,) = struct.unpack_from(end + "H", note, 14)
        for i in range(min(count, 200)):
            tag, typ, n, off = struct.unpack_from(end + "HHII", note, 16 + 12 * i)
            if tag == 0x11 and typ == 2:
                raw = note[16 + 12 * i + 8: 16 + 12 * i + 8 + n] if n <= 4 else note[off:off + n]
                return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    except struct.error:
        return ""
    return ""


def _by_content_id(members: list[str], is_clip: Callable[[str], bool], clip_id: Callable[[str], str],
                   still_id: Callable[[str], str]) -> dict[str, list[str]]:
    """Stills and clips of one folder paired by Apple's content identifier (names may differ)."""
    clips = [m for m in members if _ext(m) in LIVE_CLIP_EXTENSIONS and is_clip(m)]
    stills = [m for m in members if _ext(m) in STILL_EXTENSIONS]
    if not clips or not stills:
        return {}
    ids = {cid: c for c in clips if (cid := clip_id(c))}
    out: dict[str, list[str]] = {}
    if ids:
        for st in stills:
            cid = still_id(st)
            if cid and cid in ids:
                out[st] = [ids.pop(cid)]
    return out


def companions_of(paths: Iterable[str], is_clip: Callable[[str], bool] = live_clip,
                  clip_id: Callable[[str], str] | None = None,
                  still_id: Callable[[str], str] = still_content_id) -> dict[str, list[str]]:
    """primary path → its companion files (RAW, Live Photo clip), for files in the same folders:
    same stem, or (a Live Photo whose files were renamed) the same Apple content identifier."""
    from imgrag_desktop.video import content_identifier

    clip_id = clip_id or content_identifier
    groups: dict[tuple[str, str], list[str]] = {}
    for p in paths:
        folder, name = os.path.split(p)
        groups.setdefault((folder, os.path.splitext(name)[0].lower()), []).append(p)
    out: dict[str, list[str]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        stills = sorted((m for m in members if _ext(m) in STILL_EXTENSIONS), key=lambda m: STILL_EXTENSIONS.index(_ext(m)))
        if not stills:
            continue
        primary = stills[0]
        extra = [m for m in members if m != primary and (is_raw_name(m) or
                                                         (_ext(m) in LIVE_CLIP_EXTENSIONS and is_clip(m)))]
        if extra:
            out[primary] = sorted(extra)
    paired = set(out) | {c for cs in out.values() for c in cs}
    folders: dict[str, list[str]] = {}
    for (folder, _stem), members in groups.items():
        folders.setdefault(folder, []).extend(m for m in members if m not in paired)
    for members in folders.values():
        for still, clip in _by_content_id(members, is_clip, clip_id, still_id).items():
            out[still] = clip
    return out


def pair(files: Sequence[Any]) -> tuple[list[Any], dict[str, list[str]]]:
    """Scanner entries without the companions, and primary path → companion paths."""
    comp = companions_of([f.path for f in files])
    hidden = {c for cs in comp.values() for c in cs}
    return [f for f in files if f.path not in hidden], comp


def pair_paths(paths: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The watcher's files: each checked against the files beside it on disk."""
    folders: dict[str, list[str]] = {}
    for p in paths:
        folder = os.path.dirname(p)
        if folder not in folders:
            try:
                folders[folder] = [os.path.join(folder, n) for n in os.listdir(folder)]
            except OSError:
                folders[folder] = []
    wanted = set(paths)
    comp = {k: v for k, v in companions_of([p for names in folders.values() for p in names]).items()
            if k in wanted or wanted.intersection(v)}
    hidden = {c for cs in comp.values() for c in cs}
    todo = [p for p in paths if p not in hidden]
    todo.extend(k for k in comp if k not in todo and k not in wanted and os.path.exists(k))
    return todo, comp


def is_motion_photo(path: str, data: bytes | None = None) -> bool:
    """A JPEG with an MP4 inside (Google `MotionPhoto`/`MicroVideo` XMP, Samsung trailer);
    `data`: the file's bytes when already read."""
    if _ext(path) not in (".jpg", ".jpeg", ".heic", ".heif"):
        return False
    if data is not None:
        head, tail = data[:256 << 10], data[-(4 << 20):]
    else:
        return _motion_on_disk(path)
    if b'MotionPhoto="1"' in head or b'MicroVideo="1"' in head or b"<GCamera:MotionPhoto>1<" in head:
        return True
    return b"MotionPhoto_Data" in tail


def _motion_on_disk(path: str) -> bool:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:  # read only
            head = fh.read(256 << 10)
            fh.seek(max(0, size - (4 << 20)))
            tail = fh.read()
    except OSError:
        return False
    if b'MotionPhoto="1"' in head or b'MicroVideo="1"' in head or b"<GCamera:MotionPhoto>1<" in head:
        return True
    return b"MotionPhoto_Data" in tail


def media_of(path: str, companions: Sequence[str], data: bytes | None = None) -> str:
    if is_video_name(path):
        return "video"
    if any(is_video_name(c) for c in companions) or is_motion_photo(path, data):
        return "live"
    if is_raw_name(path) or any(is_raw_name(c) for c in companions):
        return "raw"
    return "photo"


def sync(store: Any, companions: dict[str, list[str]], where: str | None) -> int:
    """Write `media` and `files` of the rows in `where` (and of the primaries given): a RAW or
    clip that appeared or vanished beside a photo changes its row. Returns rows changed."""
    if store.images is None or "media" not in store.images.schema.names:
        return 0
    from imgrag_desktop.store import sql_in

    rows = store.query(where, ["path", "media", "files"]).to_pylist() if where else []
    known = {r["path"] for r in rows}
    extra = [p for p in companions if p not in known]
    if extra:
        rows.extend(store.query(sql_in("path", extra), ["path", "media", "files"]).to_pylist())
    changes: dict[str, dict[str, Any]] = {}
    for r in rows:
        comp = companions.get(r["path"], [])
        files = json.dumps([r["path"], *comp], ensure_ascii=False) if comp else None
        if r.get("media") is not None and files == r.get("files"):
            continue
        media = media_of(r["path"], comp)
        if files != r.get("files"):  # a companion came or went: its sidecar counts too
            changes[r["path"]] = {"media": media, "files": files, "meta_status": None}
        elif media != r.get("media"):
            changes[r["path"]] = {"media": media}
    for i, chunk in enumerate(_chunks(list(changes), 500)):
        del i
        store.update_rows({p: changes[p] for p in chunk})
    return len(changes)


def forget_files(store: Any, removed: Sequence[str]) -> int:
    """A RAW or a Live Photo's clip was deleted (the watcher): the rows listing it no longer do."""
    if not removed or store.images is None or "files" not in store.images.schema.names:
        return 0
    from imgrag_desktop.store import sql_str

    gone = set(removed)
    folders = {os.path.dirname(p) for p in removed}
    cond = " OR ".join(f"starts_with(path, {sql_str(f + os.sep)})" for f in sorted(folders))
    changes: dict[str, dict[str, Any]] = {}
    for r in store.query(f"files IS NOT NULL AND ({cond})", ["path", "files"]).to_pylist():
        try:
            files = [str(f) for f in json.loads(r["files"] or "[]")]
        except ValueError:
            continue
        if not gone.intersection(files):
            continue
        comp = [f for f in files if f != r["path"] and f not in gone]
        changes[r["path"]] = {"files": json.dumps([r["path"], *comp], ensure_ascii=False) if comp else None,
                              "media": media_of(r["path"], comp)}
    if changes:
        store.update_rows(changes)
    return len(changes)


def moved_files(files_json: str, old: str, new: str, moves: dict[str, str]) -> str | None:
    """The `files` of a row whose photo moved from `old` to `new`: companions that moved too
    (`moves`), or that lay beside it, follow; the next scan checks them against the disk."""
    try:
        files = [str(f) for f in json.loads(files_json or "[]")]
    except ValueError:
        return None
    out = []
    for f in files:
        if f == old:
            out.append(new)
        elif f in moves:
            out.append(moves[f])
        elif os.path.dirname(f) == os.path.dirname(old):
            out.append(os.path.join(os.path.dirname(new), os.path.basename(f)))
        else:
            out.append(f)
    return json.dumps(out, ensure_ascii=False) if len(out) > 1 else None


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


SKIPPED_FILE = "skipped_types.json"


def remember_skipped(data_dir: Any, roots: Sequence[str], skipped: dict[str, int]) -> None:
    """The file types the last scan of each root left out (`imgrag status`: skipped_types)."""
    if data_dir is None:
        return
    path = os.path.join(str(data_dir), SKIPPED_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            held = json.load(fh)
        held = held if isinstance(held, dict) else {}
    except (OSError, ValueError):
        held = {}
    for root in roots:
        held.pop(root, None)
    if roots:
        held[roots[0] if len(roots) == 1 else "|".join(roots)] = dict(sorted(skipped.items()))
    try:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(held, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a report, not the index: a read-only data dir fails elsewhere


def skipped_types(data_dir: Any) -> dict[str, int]:
    try:
        with open(os.path.join(str(data_dir), SKIPPED_FILE), encoding="utf-8") as fh:
            held = json.load(fh)
    except (OSError, ValueError):
        return {}
    total: dict[str, int] = {}
    for counts in (held.values() if isinstance(held, dict) else []):
        for ext, n in (counts.items() if isinstance(counts, dict) else []):
            total[ext] = total.get(ext, 0) + int(n)
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def media_counts(store: Any) -> dict[str, int]:
    """Items per media kind: photos, raw (RAW alone or RAW+JPEG), videos, live (Live/Motion Photos)."""
    if store.images is None or "media" not in store.images.schema.names:
        return {}
    col = store.query(None, ["media"]).column("media").to_pylist()
    names = {"photo": "photos", "raw": "raw", "video": "videos", "live": "live"}
    out = {v: 0 for v in names.values()}
    for m in col:
        key = names.get(m or "photo", m or "photos")
        out[key] = out.get(key, 0) + 1
    return out


def failed_by_type(store: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in store.list_failures():
        ext = os.path.splitext(f["path"])[1].lower() or "(none)"
        out[ext] = out.get(ext, 0) + 1
    return out
