"""Checking and repairing the index on disk (`imgrag check`, `imgrag repair`, Settings › Check).

Works on the Lance datasets directly, below LanceDB, because a damaged table is exactly what
LanceDB refuses to open. A table is readable when its latest manifest opens and every one of its
fragments reads to the end (a truncated or missing data file fails here, not later in a
search). Lance keeps a manifest per committed version, so repair goes back to the newest
version that reads completely and commits it again as the latest (nothing is rewritten: the
new version points at the old, intact data files). A manifest that does not even open (torn by
a power cut) is moved aside, into `damaged/` in the data dir, never deleted. When no version
reads completely, the readable fragments of the newest version are kept and the lost rows are
rebuilt from the photos by an indexing pass (services.repair_index does that part).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from imgrag_desktop.store.schema import IMAGES, SchemaTooNew, check_version

U64_MAX = 2**64 - 1
BATCH = 8192


@dataclass
class TableCheck:
    name: str
    ok: bool = True
    rows: int = 0
    version: int = 0
    error: str = ""
    bad_fragments: list[int] = field(default_factory=list)
    non_finite: list[str] = field(default_factory=list)  # images: paths whose vectors hold NaN/inf
    duplicates: int = 0  # images: rows beyond the first with the same path
    paths: list[str] = field(default_factory=list)  # images: every path (for the file check)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "rows": self.rows, "version": self.version, "error": self.error,
                "bad_fragments": self.bad_fragments, "non_finite": len(self.non_finite),
                "duplicates": self.duplicates}


def short(exc: BaseException) -> str:
    import re

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r",\s*/\S+\.rs:\d+:\d+", "", first)[:200]


def table_dirs(db_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in db_dir.iterdir() if p.is_dir() and p.name.endswith(".lance"))
    except FileNotFoundError:
        return []


def manifest_versions(table_dir: Path) -> dict[int, Path]:
    """Committed versions → their manifest file (both of Lance's naming schemes)."""
    out: dict[int, Path] = {}
    for m in (table_dir / "_versions").glob("*.manifest"):
        try:
            n = int(m.stem)
        except ValueError:
            continue
        out[U64_MAX - n if n > 2**63 else n] = m
    return out


def _read_all(ds: Any, check: TableCheck | None = None) -> list[int]:
    """Read every fragment to the end; the ids of those that fail. Fills `check` for images."""
    bad = []
    seen: set[str] = set()
    for frag in ds.get_fragments():
        try:
            for batch in frag.to_batches(batch_size=BATCH):
                if check is not None and check.name == IMAGES:
                    _inspect_images(batch, check, seen)
        except Exception:
            bad.append(frag.fragment_id)
    return bad


def _inspect_images(batch: Any, check: TableCheck, seen: set[str]) -> None:
    names = batch.schema.names
    paths = batch.column(names.index("path")).to_pylist()
    for p in paths:
        if p in seen:
            check.duplicates += 1
        seen.add(p)
    check.paths.extend(paths)
    for col in ("visual", "textual"):
        if col not in names:
            continue
        arr = batch.column(names.index(col))
        if arr.null_count == len(arr):
            continue
        size = arr.type.list_size
        flat = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
        if size and flat.size:
            full = np.zeros((len(arr), size), dtype=np.float32)
            full[valid] = flat.reshape(-1, size)
            bad_rows = np.nonzero(~np.isfinite(full).all(axis=1))[0]
            check.non_finite.extend(paths[i] for i in bad_rows if paths[i] not in check.non_finite)


def check_table(table_dir: Path, version: int | None = None, inspect: bool = True) -> TableCheck:
    import lance

    name = table_dir.name[: -len(".lance")]
    check = TableCheck(name)
    try:
        ds = lance.dataset(str(table_dir), version=version)
        check.version = ds.version
        check.rows = ds.count_rows()
    except Exception as exc:
        check.ok, check.error = False, f"cannot open: {short(exc)}"
        return check
    bad = _read_all(ds, check if inspect else None)
    if bad:
        check.ok = False
        check.bad_fragments = bad
        check.error = f"{len(bad)} data file(s) unreadable (truncated or missing)"
    return check


def too_new(table_dir: Path) -> str:
    """The SchemaTooNew message when a newer release wrote the table, else ""."""
    import lance

    try:
        check_version(lance.dataset(str(table_dir)))
    except SchemaTooNew as exc:
        return str(exc)
    except Exception:
        return ""
    return ""


@dataclass
class IndexCheck:
    tables: list[TableCheck] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    offline_rows: int = 0  # rows below offline roots: not checked for their files
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = []
        for t in self.tables:
            if not t.ok:
                out.append(f"table {t.name!r}: {t.error}")
            if t.non_finite:
                out.append(f"table {t.name!r}: {len(t.non_finite)} row(s) with non-finite vectors")
            if t.duplicates:
                out.append(f"table {t.name!r}: {t.duplicates} duplicate row(s)")
        if self.missing_files:
            out.append(f"{len(self.missing_files)} indexed file(s) no longer on disk")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        images = next((t for t in self.tables if t.name == IMAGES), None)
        return {"ok": self.ok, "problems": self.problems, "tables": [t.to_json() for t in self.tables],
                "images": images.rows if images is not None else 0,
                "missing_files": len(self.missing_files), "missing_sample": self.missing_files[:20],
                "offline_rows": self.offline_rows, "seconds": round(self.seconds, 3)}


def check_index(db_dir: Path, offline_roots: dict[str, str] | None = None,
                exists: Callable[[str], bool] = os.path.exists) -> IndexCheck:
    """Every table readable to the end, row counts, vectors finite, no duplicate paths, and the
    files the images table refers to still there (rows below offline roots are counted apart)."""
    t0 = time.monotonic()
    result = IndexCheck()
    offline = tuple(r.rstrip(os.sep) + os.sep for r in (offline_roots or {}))
    for d in table_dirs(Path(db_dir)):
        if not manifest_versions(d):
            continue  # never committed (a first write cut short): holds nothing
        t = check_table(d)
        result.tables.append(t)
        if t.name == IMAGES:
            for p in t.paths:
                if offline and p.startswith(offline):
                    result.offline_rows += 1
                elif not exists(p):
                    result.missing_files.append(p)
            t.paths = []
    result.seconds = time.monotonic() - t0
    return result


@dataclass
class TableRepair:
    name: str
    action: str  # "none" | "restored" | "salvaged" | "emptied"
    version: int = 0  # the version restored or salvaged from
    rows_before: int = 0
    rows_after: int = 0
    moved_aside: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "version": self.version,
                "rows_after": self.rows_after, "moved_aside": self.moved_aside}


def repair_table(table_dir: Path, quarantine: Path) -> TableRepair:
    """Bring one table back to its newest completely readable state (see the module doc)."""
    import lance

    name = table_dir.name[: -len(".lance")]
    latest = check_table(table_dir, inspect=False)
    rep = TableRepair(name, "none", latest.version, latest.rows, latest.rows)
    if latest.ok:
        return rep
    versions = manifest_versions(table_dir)
    good: int | None = None
    openable: int | None = None
    for v in sorted(versions, reverse=True):
        c = check_table(table_dir, v, inspect=False)
        if c.error.startswith("cannot open"):
            if good is None and openable is None:  # a torn manifest on top: move it aside
                rep.moved_aside.append(_move_aside(versions[v], table_dir, quarantine))
            continue
        if openable is None:
            openable = v
        if c.ok:
            good = v
            break
    hint = table_dir / "_versions" / "latest_version_hint.json"
    if rep.moved_aside and hint.exists():
        rep.moved_aside.append(_move_aside(hint, table_dir, quarantine))
    if good is not None:
        ds = lance.dataset(str(table_dir), version=good)
        newest = max(v for v in manifest_versions(table_dir))
        if good != newest:
            ds.restore()
        rep.action, rep.version = "restored", good
    elif openable is not None:
        ds = lance.dataset(str(table_dir), version=openable)
        keep = []
        for frag in ds.get_fragments():
            try:
                for _ in frag.to_batches(batch_size=BATCH):
                    pass
                keep.append(frag.metadata)
            except Exception:
                continue
        op = lance.LanceOperation.Overwrite(ds.schema, keep)
        lance.LanceDataset.commit(str(table_dir), op, read_version=ds.version)
        rep.action, rep.version = ("salvaged" if keep else "emptied"), openable
    else:
        # Not one manifest opens: the whole table goes aside; the caller rebuilds it.
        rep.moved_aside.append(_move_aside(table_dir, table_dir.parent, quarantine))
        rep.action = "emptied"
        rep.rows_after = 0
        return rep
    rep.rows_after = lance.dataset(str(table_dir)).count_rows()
    return rep


def _move_aside(path: Path, base: Path, quarantine: Path) -> str:
    dest = quarantine / base.name / path.relative_to(base) if path != base else quarantine / path.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(dest))
    return str(dest)


def new_quarantine(data_dir: Path) -> Path:
    return Path(data_dir) / "damaged" / time.strftime("%Y%m%d-%H%M%S")
