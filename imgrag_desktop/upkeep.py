"""Keeping a library safe: `imgrag check`, `imgrag repair`, `imgrag export-userdata` / `import-userdata`
and the Settings dialog's Check and Repair buttons all call these.

The index is more than a cache (names, corrections), so repair never starts from zero: it
restores each damaged table to its newest intact version (store/integrity.py), drops only what
cannot be trusted (rows with non-finite vectors, doubled rows), and rebuilds what is missing
from the photos with a normal indexing pass over the library's folders, which reuses every
vector still held and removes nothing without positive evidence (indexing/offline.py).
The user's own data (settings, folder list, and the rows of the tables in USER_TABLES, which
hold what a person typed or decided) is exported to one small JSON file a backup can hold.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from imgrag_desktop.atomic import write_json
from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:
    from imgrag_desktop.services import Services

USERDATA_FORMAT = "imgrag-userdata"
USERDATA_VERSION = 1
# Tables whose rows are the user's own work (names, merges, corrections): table → key column.
# The people and places work adds its tables here; export and import carry them whole
# (vectors left out: they are rebuilt from the photos).
USER_TABLES: dict[str, str] = {"people": "person_id"}  # names, hidden, merges, "not a person"


def check(svc: "Services") -> dict[str, Any]:
    """`imgrag check`: the index's tables, counts, vectors and referenced files (read only)."""
    return check_config(svc.cfg)


def check_config(cfg: Any) -> dict[str, Any]:
    """check() for a data dir's AppConfig (the Settings dialog's Check button: no Services)."""
    from imgrag_desktop.indexing.offline import offline_roots
    from imgrag_desktop.store.integrity import check_index, table_dirs, too_new

    db = cfg.db_dir
    for d in table_dirs(db):
        msg = too_new(d)
        if msg:
            raise ImgragError(msg)
    offline = offline_roots(cfg.data_dir)
    data = check_index(db, offline).to_json()
    data["offline_roots"] = [{"root": r, "reason": why} for r, why in offline.items()]
    data["data_dir"] = str(cfg.data_dir)
    return data


def check_message(data: dict[str, Any]) -> str:
    """One line for a failed check."""
    return "the index has problems: " + "; ".join(data["problems"]) + " (`imgrag repair` fixes them)"


def repair(svc: "Services", cancel: threading.Event | None = None,
           on_progress: Callable[[Any], None] | None = None, reindex: bool = True) -> dict[str, Any]:
    """`imgrag repair`: restore damaged tables, drop untrustworthy rows, rebuild the rest.

    Hold the writer lock around this. Damaged files are moved into `damaged/` in the data dir,
    never deleted; a user-data export is written there first (when the settings open)."""
    from imgrag_desktop.store.integrity import (
        check_index,
        manifest_versions,
        new_quarantine,
        repair_table,
        table_dirs,
        too_new,
    )

    cancel = cancel or threading.Event()
    t0 = time.monotonic()
    db = svc.cfg.db_dir
    for d in table_dirs(db):
        msg = too_new(d)
        if msg:
            raise ImgragError(msg + " (repair refused: it would write a table this release cannot read)")
    quarantine = new_quarantine(svc.cfg.data_dir)
    tables = [repair_table(d, quarantine) for d in table_dirs(db) if manifest_versions(d)]
    svc.reopen_store()
    store = svc.store
    after = check_index(db)
    dropped = 0
    for t in after.tables:
        if t.name == "images" and (t.non_finite or t.duplicates):
            bad = sorted(set(t.non_finite) | _doubled(store))
            store.delete_paths(bad)  # the indexing pass below embeds them again
            dropped = len(bad)
    data: dict[str, Any] = {"tables": [t.to_json() for t in tables if t.action != "none"],
                            "dropped_rows": dropped,
                            "quarantine": str(quarantine) if quarantine.exists() else ""}
    if reindex and not cancel.is_set():
        folders = library_folders(svc)
        if folders:
            report = svc.indexer(on_progress=on_progress).index_paths(folders, cancel=cancel)
            data["reindexed"] = report.to_json()
            if not cancel.is_set():
                from imgrag_desktop.indexing.stages import run_later_stages

                data["stages"] = run_later_stages(svc, cancel, on_progress, lambda _msg: None)
    svc.reopen_store()
    final = check_index(db)
    data["ok"] = all(t.ok and not t.non_finite and not t.duplicates for t in final.tables)
    data["images"] = next((t.rows for t in final.tables if t.name == "images"), 0)
    data["seconds"] = round(time.monotonic() - t0, 3)
    return data


def _doubled(store: Any) -> set[str]:
    if store.images is None:
        return set()
    paths = store.query(None, ["path"]).column("path").to_pylist()
    seen: set[str] = set()
    doubled = set()
    for p in paths:
        if p in seen:
            doubled.add(p)
        seen.add(p)
    return doubled


def library_folders(svc: "Services") -> list[str]:
    """The folders a rebuild walks: the library's folder list, plus the roots the images table
    names (an index made with --no-remember), those that are folders now."""
    folders = list(svc.cfg.settings.folders)
    try:
        if svc.store.images is not None:
            seen = svc.store.query(None, ["folder"]).column("folder").to_pylist()
            folders.extend(f for f in dict.fromkeys(seen) if f)
    except ImgragError:
        pass
    out = []
    for f in dict.fromkeys(folders):
        if os.path.isdir(f) and not any(o != f and (f + os.sep).startswith(o.rstrip(os.sep) + os.sep) for o in folders):
            out.append(f)
    return out


# User data -----------------------------------------------------------------------------------
def export_userdata(svc: "Services", dest: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the user's own data to `dest` (JSON, atomic) and say what went in."""
    from imgrag_desktop.indexing.offline import RootRegistry

    data: dict[str, Any] = {
        "format": USERDATA_FORMAT,
        "version": USERDATA_VERSION,
        "exported_at": time.time(),
        "settings": svc.cfg.settings.to_dict(),
        "roots": {r: vars(rec) for r, rec in RootRegistry.for_data_dir(svc.cfg.data_dir).records.items()},
        "tables": {},
    }
    for name in USER_TABLES:
        rows = _user_rows(svc, name)
        if rows is not None:
            data["tables"][name] = rows
    path = Path(dest).expanduser()
    write_json(path, data, indent=1, sort_keys=True, default=str)
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "folders": len(svc.cfg.settings.folders),
            "tables": {k: len(v) for k, v in data["tables"].items()}}


def _user_rows(svc: "Services", name: str) -> list[dict[str, Any]] | None:
    import pyarrow as pa

    try:
        db = svc.store._connect()
        if name not in db.table_names():
            return None
        tbl = db.open_table(name).to_arrow()
    except Exception as exc:
        raise ImgragError(f"cannot read the table {name!r} to export it ({exc}); run `imgrag repair` first") from exc
    keep = [f.name for f in tbl.schema if not (pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type))]
    return list(tbl.select(keep).to_pylist())


def read_userdata(src: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(src).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImgragError(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise ImgragError(f"{path} is not a user-data file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != USERDATA_FORMAT:
        raise ImgragError(f"{path} is not an imgrag user-data file (made by `imgrag export-userdata`)")
    if int(data.get("version", 0)) > USERDATA_VERSION:
        raise ImgragError(f"{path} was written by a newer imgrag-desktop (format {data['version']}); upgrade the app")
    return data


def import_userdata(svc: "Services", src: str | os.PathLike[str]) -> dict[str, Any]:
    """Bring back what export_userdata wrote: settings (the folder list merged with the current
    one), and the user tables' rows (merged by their key). Nothing is deleted."""
    from imgrag_desktop.config import Settings

    data = read_userdata(src)
    incoming = Settings.from_dict(data.get("settings") or {})
    folders = list(dict.fromkeys([*svc.cfg.settings.folders, *incoming.folders]))
    incoming.folders = folders
    svc.cfg.settings = incoming
    svc.cfg.save()
    merged: dict[str, int] = {}
    for name, rows in (data.get("tables") or {}).items():
        key = USER_TABLES.get(name)
        if key is None or not rows:
            continue
        merged[name] = _merge_rows(svc, name, key, rows)
    return {"settings": True, "folders": len(folders), "tables": merged}


def _merge_rows(svc: "Services", name: str, key: str, rows: list[dict[str, Any]]) -> int:
    import pyarrow as pa

    db = svc.store._connect()
    if name in db.table_names():
        table = db.open_table(name)
        schema = table.schema
        cols = [f for f in schema if f.name in rows[0]]
        batch = pa.Table.from_pylist(rows, schema=pa.schema(cols))
        table.merge_insert(key).when_matched_update_all().when_not_matched_insert_all().execute(batch)
    else:
        db.create_table(name, pa.Table.from_pylist(rows))
    return len(rows)
