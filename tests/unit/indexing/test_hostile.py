"""Hostile files: every good file indexed, every bad one skipped with a reason, photos untouched.

The corpus comes from tests/support/hostile_corpus.py (built fresh in a temp folder). It is indexed by
the real Indexer in-process and by the `imgrag` command in a subprocess; both runs must leave
the corpus byte-for-byte, mode-for-mode, time-for-time as it was.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.hostile_corpus import (
    Corpus,
    _jpeg,
    _noise,
    _png,
    _save,
    build_corpus,
    exif_bytes,
    jpeg_with_app1,
    permissions_apply,
    restore_permissions,
    tree_state,
    unprivileged,
)

# Opens seen by the audit hook while `_OPENS` is a list (hooks cannot be removed: gate it).
_OPENS: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENS is not None and args and isinstance(args[0], (str, bytes)):
        _OPENS.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    c = build_corpus(tmp_path_factory.mktemp("hostile") / "photos")
    yield c
    restore_permissions(c)


def _check_rows_and_failures(c: Corpus, rows: dict[str, dict], failures: dict[str, str], permissions: bool) -> None:
    good, bad = c.expected(permissions)
    missing = {p: failures.get(p) for p in good if p not in rows}
    assert not missing, f"good files not indexed (with the reason given): {missing}"
    unexpected = sorted(set(rows) - set(good))
    assert not unexpected, f"rows for files that should not be indexed: {unexpected}"
    for path, words in bad.items():
        reason = failures.get(path)
        assert reason is not None, f"no failure recorded for {path!r}"
        assert any(w in reason.lower() for w in words), f"{path!r}: reason {reason!r} lacks any of {words}"
    for path, words in c.bad_prefix.items():
        covering = {p: r for p, r in failures.items() if path.startswith(p.rstrip("/") + "/")}
        assert covering, f"nothing reported for the folder holding {path[:80]}…"
        assert any(any(w in r.lower() for w in words) for r in covering.values()), covering
    for path in c.ignored:
        assert path not in rows and path not in failures, path
    extra = set(failures) - set(bad) - {p for p in failures if any(x.startswith(p.rstrip("/") + "/") for x in c.bad_prefix)}
    assert not extra, f"failures for files that are fine: { {p: failures[p] for p in extra} }"


def test_indexer_indexes_every_good_file_and_explains_every_bad_one(corpus: Corpus, tmp_path: Path) -> None:
    global _OPENS
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    permissions = permissions_apply(tmp_path, drop=False)
    before = tree_state(corpus.root)
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    _OPENS = []
    try:
        report = svc.indexer().index_paths([str(corpus.root)])
        opened = list(_OPENS)
        report2 = svc.indexer().index_paths([str(corpus.root)])
    finally:
        _OPENS = None
    assert tree_state(corpus.root) == before, "indexing changed something inside the photo folder"

    rows = {r["path"]: r for r in svc.store.query(None, ["path", "width", "height", "content_hash", "visual"]).to_pylist()}
    failures = {f["path"]: f["reason"] for f in svc.store.list_failures()}
    _check_rows_and_failures(corpus, rows, failures, permissions)
    assert svc.store.count() == len(rows), "duplicate rows"
    assert all(r["visual"] is not None for r in rows.values())
    for path, (w, h) in corpus.rotated.items():
        assert (rows[path]["width"], rows[path]["height"]) == (w, h), "EXIF orientation not applied to the size"
    assert rows[str(corpus.root / "huge_20000.jpg")]["width"] == 20000

    # FIFOs and device nodes were never opened (opening a FIFO without a writer would block).
    touched = [p for p in opened if p in corpus.special]
    assert not touched, f"special files were opened: {touched}"
    # Nothing was opened for writing inside the corpus (the audit saw every open).
    inside = [p for p in opened if p.startswith(str(corpus.root))]
    assert inside, "the audit hook saw no reads: the check above would be vacuous"

    # A second run changes nothing and re-reads nothing that failed before.
    assert (report2.added, report2.updated, report2.embedded, report2.removed) == (0, 0, 0, 0)
    assert svc.store.count() == len(rows)
    assert {f["path"] for f in svc.store.list_failures()} == set(failures)
    good, bad = corpus.expected(permissions)
    print(f"\nhostile corpus (in-process): {len(rows)} good files indexed of {len(good)}, "
          f"{len(bad) + len(corpus.bad_prefix)} bad ones each with a reason; "
          f"report: added={report.added} failed={report.failed}; notes: {corpus.notes}")


def _cli(args: list[str], data_dir: Path, drop: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--profile", "test", "--data-dir", str(data_dir), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(unprivileged(cmd) if drop else cmd, capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


def test_cli_on_hostile_corpus(corpus: Corpus, tmp_path: Path) -> None:
    """Through the command, without the privilege to ignore permission bits (when the machine
    allows dropping it), so the unreadable file and folder are really unreadable. A timeout
    here would mean a FIFO was opened."""
    permissions = permissions_apply(tmp_path, drop=True)
    before = tree_state(corpus.root)
    data = tmp_path / "data"
    proc = _cli(["index", str(corpus.root), "--json", "--quiet"], data, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    status = _cli(["status", "--json", "--failures"], data)
    assert status.returncode == 0, status.stderr[-2000:]
    st = json.loads(status.stdout)
    assert tree_state(corpus.root) == before, "the command changed something inside the photo folder"

    good, bad = corpus.expected(permissions)
    from imgrag_desktop.store import Store

    store = Store(data / "index.lancedb")
    rows = {r["path"]: r for r in store.query(None, ["path"]).to_pylist()}
    failures = {f["path"]: f["reason"] for f in st["failures"]}
    _check_rows_and_failures(corpus, rows, failures, permissions)
    assert st["images"] == len(good) == report["images"]
    assert st["failed"] == len(failures)
    assert {f["path"] for f in report["failures"]} == set(failures)

    # Human output keeps one line per file, even for names with a newline or a tab in them.
    human = _cli(["status", "--failures"], data)
    assert human.returncode == 0, human.stderr[-2000:]
    assert sum(1 for ln in human.stdout.splitlines() if ln.startswith("  ")) == len(failures)
    hits = _cli(["search", "a photo", "-k", "1000", "--no-collapse"], data)
    assert hits.returncode == 0, hits.stderr[-2000:]
    ranked = [ln for ln in hits.stdout.splitlines() if re.match(r"\s*\d+\. ", ln)]  # not the region notes
    assert len(ranked) == len(good)
    assert "new\\nline.jpg" in hits.stdout and "tab\\there.jpg" in hits.stdout
    print(f"\nhostile corpus (CLI, permission bits {'apply' if permissions else 'ignored'}): "
          f"{st['images']} good indexed, {st['failed']} skipped with reasons")


def test_unreadable_file_and_folder_are_explained_when_permissions_apply(tmp_path: Path) -> None:
    """The one case root cannot see by itself: run the scan and read as a reader bound by
    permission bits and check the reasons."""
    photos = tmp_path / "photos"
    (photos / "locked").mkdir(parents=True)
    ok = photos / "ok.jpg"
    ok.write_bytes(_jpeg(_noise((40, 30), 1)))
    denied = photos / "denied.jpg"
    denied.write_bytes(_jpeg(_noise((40, 30), 2)))
    (photos / "locked" / "inner.jpg").write_bytes(_jpeg(_noise((40, 30), 3)))
    os.chmod(denied, 0)
    os.chmod(photos / "locked", 0)
    try:
        if not permissions_apply(tmp_path, drop=True):
            pytest.skip("this machine cannot run a reader that is bound by permission bits")
        code = (
            "import json, sys\n"
            "from imgrag_desktop.indexing import scanner\n"
            "from imgrag_desktop import imaging\n"
            "res = scanner.scan([sys.argv[1]])\n"
            "out = {f.path: f.reason for f, _ in res.problems}\n"
            "for e in res.files:\n"
            "    try:\n"
            "        imaging.decode_path(e.path)\n"
            "        out[e.path] = 'ok'\n"
            "    except imaging.DecodeError as exc:\n"
            "        out[e.path] = str(exc)\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(unprivileged([sys.executable, "-c", code, str(photos)]), capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
    finally:
        os.chmod(denied, 0o644)
        os.chmod(photos / "locked", 0o755)
    assert out[str(ok)] == "ok"
    assert "permission denied" in out[str(denied)]
    assert "permission denied" in out[str(photos / "locked")]


def test_files_that_vanish_or_change_while_indexing(tmp_path: Path) -> None:
    global _OPENS
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.imaging import content_hash
    from imgrag_desktop.services import Services

    photos = tmp_path / "photos"
    photos.mkdir()
    files = []
    for i in range(30):
        p = photos / f"f{i:02d}.jpg"
        p.write_bytes(_jpeg(_noise((64, 48), 200 + i)))
        files.append(p)
    vanish, change, damage, swap = files[20], files[21], files[22], files[23]
    new_bytes = _jpeg(_noise((90, 70), 999))
    good_damaged = damage.read_bytes()
    done = threading.Event()

    def on_progress(p) -> None:
        # After the first batch: files 20-23 are not yet read (2 per batch, 1 worker, 6 ahead).
        if p.stage == "index" and not done.is_set():
            done.set()
            vanish.unlink()
            change.write_bytes(new_bytes)
            damage.write_bytes(good_damaged[: len(good_damaged) // 3])
            swap.unlink()
            os.mkfifo(swap)

    cfg = AppConfig.load(tmp_path / "data", "test")
    cfg.settings.batch_size = 2
    cfg.settings.decode_workers = 1
    svc = Services(cfg)
    _OPENS = []
    try:
        report = svc.indexer(on_progress=on_progress).index_paths([str(photos)])
        opened = list(_OPENS)
    finally:
        _OPENS = None
    assert done.is_set()
    assert str(swap) not in opened, "the FIFO that replaced a file was opened"
    reasons = {f.path: f.reason for f in report.failures}
    assert "vanished" in reasons[str(vanish)]
    assert "truncated" in reasons[str(damage)] or "damaged" in reasons[str(damage)]
    assert "not a regular file" in reasons[str(swap)]
    rows = svc.store.rows([str(p) for p in files])
    assert rows[str(change)]["content_hash"] == content_hash(new_bytes), "indexed bytes are not the ones read"
    assert report.added == 27

    # Next run: the vanished file's failure is forgotten, the changed files are re-read.
    damage.write_bytes(good_damaged)
    report2 = svc.indexer().index_paths([str(photos)])
    failures = {f["path"]: f["reason"] for f in svc.store.list_failures()}
    assert str(vanish) not in failures
    assert set(failures) == {str(swap)}
    rows = svc.store.rows([str(p) for p in files])
    assert set(rows) == {str(p) for p in files} - {str(vanish), str(swap)}
    for p in files:
        if str(p) in rows:
            st = p.stat()
            assert (rows[str(p)]["size"], rows[str(p)]["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
            assert rows[str(p)]["content_hash"] == content_hash(p.read_bytes())
    assert report2.updated >= 1 and report2.added == 1  # `change` re-read; `damage` now decodes
    assert svc.store.count() == 28


_FUZZ_SEEDS = 60


def _fuzz_sources() -> dict[str, bytes]:
    im = _noise((64, 48), 1)
    frames = [_noise((32, 24), i) for i in range(3)]
    return {
        "jpg": _jpeg(im), "png": _png(im), "gif": _save(im.convert("P"), "GIF"), "webp": _save(im, "WEBP"),
        "tif": _save(im, "TIFF"), "bmp": _save(im, "BMP"),
        "agif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "awebp": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "exif": jpeg_with_app1(_jpeg(im), exif_bytes(orientation=6, make=b"Canon", datetime=b"2020:01:01 00:00:00")),
    }


def test_mutated_images_either_decode_or_give_a_reason() -> None:
    """Random byte flips and cuts in every format: decode_bytes returns an RGB image or raises
    DecodeError with a reason; nothing else escapes (one bad file must never stop a run)."""
    from imgrag_desktop.imaging import decode_bytes
    from imgrag_desktop.types import DecodeError

    outcomes = {"decoded": 0, "refused": 0}
    for name, data in _fuzz_sources().items():
        for seed in range(_FUZZ_SEEDS):
            rnd = random.Random(f"{name}-{seed}")
            b = bytearray(data)
            for _ in range(rnd.randint(1, 12)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            if rnd.random() < 0.25:
                b = b[: rnd.randrange(1, len(b))]
            try:
                dec = decode_bytes(bytes(b))
            except DecodeError as exc:
                assert str(exc).strip(), "empty reason"
                outcomes["refused"] += 1
            else:
                assert dec.image.mode == "RGB" and min(dec.image.size) >= 1
                outcomes["decoded"] += 1
    assert outcomes["decoded"] and outcomes["refused"], outcomes


def test_garbage_in_exif_never_refuses_a_photo() -> None:
    """EXIF is metadata: random damage inside it must not cost the user the picture."""
    from imgrag_desktop.imaging import decode_bytes

    base = _jpeg(_noise((64, 48), 3))
    valid = exif_bytes(orientation=6, make=b"Canon", datetime=b"2021:07:04 12:30:00")
    for seed in range(400):
        rnd = random.Random(seed)
        b = bytearray(valid)
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(6, len(b))] = rnd.randrange(256)
        dec = decode_bytes(jpeg_with_app1(base, bytes(b)))
        assert {dec.width, dec.height} == {64, 48}
    # Seeds that once broke Pillow's exif_transpose (it re-serialises the whole EXIF block).
    for seed in (124, 314, 704, 1338, 2101):
        rnd = random.Random(seed)
        b = bytearray(valid)
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(6, len(b))] = rnd.randrange(256)
        decode_bytes(jpeg_with_app1(base, bytes(b)))


def test_scanner_reports_names_that_are_not_utf8_and_paths_too_long(tmp_path: Path) -> None:
    from imgrag_desktop.indexing import scanner

    root = tmp_path / "p"
    root.mkdir()
    raw = os.fsencode(str(root))
    with open(raw + b"/bad\xff.jpg", "wb") as fh:
        fh.write(b"x")
    os.mkdir(raw + b"/dir\xfe")
    with open(raw + b"/dir\xfe/inner.jpg", "wb") as fh:
        fh.write(b"x")
    res = scanner.scan([str(root)])
    assert res.files == []
    reasons = {f.path: f.reason for f, _ in res.problems}
    assert all(scanner.storable(p) for p in reasons)
    assert any("not valid UTF-8" in r and p.endswith("bad\ufffd.jpg") for p, r in reasons.items())
    assert any("folder" in r and p.endswith("dir\ufffd") for p, r in reasons.items())
