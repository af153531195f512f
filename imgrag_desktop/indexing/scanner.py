"""Walk folders and decide what needs indexing.

Unchanged files (same size and mtime, indexed by the current model) are skipped without being
read. Symlinked folders are followed once (a loop is cut where a folder is met again), folders
that cannot be read are reported (and the rows below them kept: an unreadable folder is not an
empty one), and non-regular files with image names (FIFOs, devices) are reported without ever
being opened. Hidden and system entries are skipped by default, and so are excluded folders (the
app's own data dir: indexing its thumbnails would feed on itself).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from imgrag_desktop.imaging import is_image_name
from imgrag_desktop.types import Failure

# Folders that operating systems and NAS boxes create for themselves; some hold JPEG thumbnails
# (Synology's @eaDir) that would otherwise show up as duplicates of the user's photos.
SYSTEM_NAMES = frozenset({"$recycle.bin", "system volume information", "@eadir", "#recycle", "#snapshot",
                          "lost+found", ".trashes", ".spotlight-v100", ".fseventsd"})
_WIN_HIDDEN = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 2) | getattr(stat, "FILE_ATTRIBUTE_SYSTEM", 4)


def is_ignored_name(name: str) -> bool:
    """A hidden (dot) or system name: skipped when `ignore_hidden` is on (the default)."""
    return name.startswith(".") or name.lower() in SYSTEM_NAMES


def is_hidden_stat(st: os.stat_result) -> bool:
    """Windows' hidden/system attributes (always False elsewhere)."""
    return bool(getattr(st, "st_file_attributes", 0) & _WIN_HIDDEN)


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute, not resolved through symlinks (the path the user sees)
    folder: str  # the indexed root it was found under
    size: int
    mtime_ns: int


@dataclass
class ScanResult:
    files: list[FileEntry] = field(default_factory=list)
    problems: list[tuple[Failure, str]] = field(default_factory=list)  # (failure, root)
    roots: list[str] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # folders skipped for an error: rows below are kept
    # root → (st_dev, st_ino, is a mount point) of each root that could be stat'ed
    idents: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    offline: dict[str, str] = field(default_factory=dict)  # roots that did not answer in time: root → reason
    skipped_types: dict[str, int] = field(default_factory=dict)  # extension → files not indexed (not a picture or video)
    sidecars: set[str] = field(default_factory=set)  # XMP sidecars seen (indexing/sidecars.py): no stat per photo

    def merge(self, other: "ScanResult") -> None:
        self.files.extend(other.files)
        self.problems.extend(other.problems)
        self.missing_roots.extend(other.missing_roots)
        self.unreadable.extend(other.unreadable)
        self.idents.update(other.idents)
        self.offline.update(other.offline)
        self.sidecars.update(other.sidecars)
        for ext, n in other.skipped_types.items():
            self.skipped_types[ext] = self.skipped_types.get(ext, 0) + n


class Fs:
    """The file-system calls the scanner makes on a watched root, in one place: a hung network
    share blocks in one of these, and a test injects a slow one here."""

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def scandir(self, path: str) -> Any:
        return os.scandir(path)


class _Timed(Fs):
    """Wraps an Fs and records when the call in flight began (the scan's watchdog reads it)."""

    def __init__(self, fs: Fs) -> None:
        self.fs = fs
        self.since: float | None = None  # monotonic start of the call in flight, None between calls

    def _call(self, fn: Callable[[str], Any], path: str) -> Any:
        self.since = time.monotonic()
        try:
            return fn(path)
        finally:
            self.since = None

    def stat(self, path: str) -> os.stat_result:
        return self._call(self.fs.stat, path)  # type: ignore[no-any-return]

    def scandir(self, path: str) -> Any:
        return self._call(self.fs.scandir, path)


DEFAULT_FS = Fs()
NOT_RESPONDING = "not responding (a file-system call took more than {:g} s): rows kept"


TOO_LONG = "path longer than the system allows (File name too long): skipped"
NOT_UTF8 = "file name is not valid UTF-8: skipped (rename it to index it)"
NOT_UTF8_FOLDER = "folder name is not valid UTF-8: folder skipped (rename it to index its images)"


def storable(path: str) -> bool:
    """A path the index can hold as text. Linux allows any bytes in a name; a name that is not
    UTF-8 arrives with surrogate escapes, which Arrow and JSON cannot carry."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_path(path: str) -> str:
    """A path fit for the failures table and the screen (undecodable bytes become U+FFFD)."""
    return path if storable(path) else os.fsencode(path).decode("utf-8", "replace")


def normalize_root(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def scan(roots: Iterable[str | os.PathLike[str]], ignore_hidden: bool = True,
         cancelled: Callable[[], bool] = lambda: False,
         exclude: Iterable[str | os.PathLike[str]] = (), fs: Fs | None = None,
         timeout_s: float | None = None) -> ScanResult:
    """Every image-named regular file below the roots (a root may also be a single file).

    Folders in `exclude` (and everything below them) are never entered. With `timeout_s`, each
    root is walked in a thread of its own, and a root where one file-system call takes longer
    than that is given up (`offline`, its partial result dropped, its rows kept): a hung share
    costs only its own root, the others are scanned meanwhile.
    """
    result = ScanResult()
    fs = fs or DEFAULT_FS
    excluded = frozenset(normalize_root(e) for e in exclude)
    excluded_keys = frozenset(k for k in (_dir_key(e) for e in excluded) if k is not None)
    todo: list[str] = []
    for raw in roots:
        root = normalize_root(raw)
        if not storable(root):
            shown = shown_path(root)
            result.problems.append((Failure(shown, NOT_UTF8_FOLDER if os.path.isdir(root) else NOT_UTF8, "scan"), shown))
            continue
        result.roots.append(root)
        if excluded and is_within(root, excluded):
            continue
        todo.append(root)
    if timeout_s is None:
        for root in todo:
            _scan_root(root, ignore_hidden, result, cancelled, excluded_keys, fs)
        return result
    running = []
    for root in todo:
        part, timed, done = ScanResult(), _Timed(fs), threading.Event()
        stop = threading.Event()

        def work(root: str = root, part: ScanResult = part, timed: _Timed = timed, done: threading.Event = done,
                 stop: threading.Event = stop) -> None:
            try:
                _scan_root(root, ignore_hidden, part, lambda: cancelled() or stop.is_set(), excluded_keys, timed)
            finally:
                done.set()

        threading.Thread(target=work, name="imgrag-scan-root", daemon=True).start()
        running.append((root, part, timed, done, stop))
    for root, part, timed, done, stop in running:
        while not done.wait(0.02):
            since = timed.since
            if since is not None and time.monotonic() - since > timeout_s:
                stop.set()  # the thread is left to its hung call; what it found is dropped
                break
        if done.is_set():
            result.merge(part)
        else:
            result.offline[root] = NOT_RESPONDING.format(timeout_s)
    return result


def _scan_root(root: str, ignore_hidden: bool, result: ScanResult, cancelled: Callable[[], bool],
               excluded_keys: frozenset[tuple[int, int]], fs: Fs) -> None:
    try:
        st = fs.stat(root)
    except FileNotFoundError:
        result.missing_roots.append(root)
        return
    except OSError as exc:
        result.problems.append((Failure(root, f"cannot open folder: {exc.strerror or exc}", "scan"), root))
        result.unreadable.append(root)  # a dead network share: keep its rows
        return
    if stat.S_ISDIR(st.st_mode):
        try:
            parent = fs.stat(os.path.dirname(root) or root)
            mount = parent.st_dev != st.st_dev or parent.st_ino == st.st_ino
        except OSError:
            mount = False
        result.idents[root] = (st.st_dev, st.st_ino, mount)
        _walk(root, root, ignore_hidden, result, {(st.st_dev, st.st_ino)}, cancelled, excluded_keys, fs)
    elif is_image_name(root):
        _add_file(root, os.path.dirname(root), st, result)


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _add_file(path: str, root: str, st: os.stat_result, result: ScanResult) -> None:
    if not storable(path):
        result.problems.append((Failure(shown_path(path), NOT_UTF8, "scan"), root))
    elif stat.S_ISREG(st.st_mode):
        result.files.append(FileEntry(path, root, st.st_size, st.st_mtime_ns))
    else:
        result.problems.append(
            (Failure(path, "not a regular file (FIFO, device or socket): never opened", "scan"), root)
        )


def _walk(root: str, folder: str, ignore_hidden: bool, result: ScanResult, seen: set[tuple[int, int]],
          cancelled: Callable[[], bool], excluded: frozenset[tuple[int, int]] = frozenset(),
          fs: Fs = DEFAULT_FS) -> None:
    # Iterative depth-first walk: deep trees cannot overflow the stack.
    stack = [folder]
    while stack:
        if cancelled():
            return
        current = stack.pop()
        try:
            with fs.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            result.problems.append((Failure(current, "permission denied: folder skipped", "scan"), root))
            result.unreadable.append(current)
            continue
        except FileNotFoundError:
            continue  # vanished while walking
        except OSError as exc:
            reason = TOO_LONG if exc.errno == errno.ENAMETOOLONG else f"cannot read folder: {exc.strerror or exc}"
            result.problems.append((Failure(current, reason, "scan"), root))
            result.unreadable.append(current)
            continue
        subdirs = []
        for entry in entries:
            if ignore_hidden and is_ignored_name(entry.name):
                continue
            if not is_image_name(entry.name):
                # Most entries of a big tree are other files: the directory listing's type says
                # so without a stat() per file (a symlink or an unknown type is still checked).
                try:
                    if not entry.is_dir(follow_symlinks=True):
                        ext = os.path.splitext(entry.name)[1].lower() or "(none)"
                        if ext == ".xmp":  # sidecars are read with their photo (indexing/sidecars.py)
                            result.sidecars.add(entry.path)
                        else:
                            result.skipped_types[ext] = result.skipped_types.get(ext, 0) + 1
                        continue
                except OSError:
                    continue
            try:
                st = fs.stat(entry.path)
            except FileNotFoundError:
                if entry.is_symlink() and is_image_name(entry.name):
                    result.problems.append((Failure(entry.path, "broken symbolic link", "scan"), root))
                continue
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    result.problems.append((Failure(entry.path, TOO_LONG, "scan"), root))
                elif is_image_name(entry.name):
                    result.problems.append((Failure(entry.path, f"cannot stat: {exc.strerror or exc}", "scan"), root))
                elif entry.is_dir(follow_symlinks=False):
                    result.problems.append((Failure(entry.path, f"cannot open folder: {exc.strerror or exc}", "scan"), root))
                continue
            if ignore_hidden and is_hidden_stat(st):
                continue
            if stat.S_ISDIR(st.st_mode):
                if not storable(entry.name):
                    result.problems.append((Failure(shown_path(entry.path), NOT_UTF8_FOLDER, "scan"), root))
                    continue
                key = (st.st_dev, st.st_ino)
                if key in excluded:
                    continue  # compared by inode: a path through a symlink is excluded too
                if key in seen:
                    continue  # a symlink loop or a folder linked twice
                seen.add(key)
                subdirs.append(entry.path)
            elif is_image_name(entry.name):
                _add_file(entry.path, root, st, result)
        stack.extend(reversed(subdirs))


@dataclass
class Plan:
    """What an indexing run must do after comparing the disk with the index."""

    todo: list[FileEntry] = field(default_factory=list)
    unchanged: int = 0
    skipped_failed: int = 0
    gone: list[str] = field(default_factory=list)
    gone_failures: list[str] = field(default_factory=list)
    updated_paths: set[str] = field(default_factory=set)


def plan(result: ScanResult, indexed: dict[str, tuple[int, int, str, str]],
         failed: dict[str, tuple[int, int, str]], clip_model: str, retry_failed: bool = False) -> Plan:
    """Diff the scan against the index. `indexed`: path → (size, mtime_ns, hash, model)."""
    p = Plan()
    on_disk = set()
    for f in result.files:
        on_disk.add(f.path)
        known = indexed.get(f.path)
        # A row still waiting for its visual vector (model "") is the "visual" stage's to fill:
        # re-reading the file would redo its OCR for nothing.
        if known is not None and known[0] == f.size and known[1] == f.mtime_ns \
                and (known[3] == clip_model or not known[3] or not clip_model):
            p.unchanged += 1
            continue
        bad = failed.get(f.path)
        if not retry_failed and known is None and bad is not None and bad[0] == f.size and bad[1] == f.mtime_ns:
            p.skipped_failed += 1
            continue
        if known is not None:
            p.updated_paths.add(f.path)
        p.todo.append(f)
    problem_paths = {fl.path for fl, _ in result.problems}
    # Rows below a missing root (an unplugged drive) or an unreadable folder are kept.
    # So are those of a root that did not answer, and a file that could not be stat'ed is not gone.
    offline = tuple(r.rstrip(os.sep) + os.sep for r in (*result.missing_roots, *result.unreadable, *result.offline))
    p.gone = [path for path in indexed if path not in on_disk and path not in problem_paths
              and not path.startswith(offline)]
    p.gone_failures = [path for path in failed if path not in on_disk and path not in problem_paths
                       and not path.startswith(offline)]
    return p


def is_within(path: str, roots: Iterable[str]) -> bool:
    p = Path(path)
    return any(p == Path(r) or Path(r) in p.parents for r in roots)
