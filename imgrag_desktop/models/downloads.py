"""Model downloads from the Hugging Face hub or a mirror (`HF_ENDPOINT`), resumable and verified.

huggingface_hub does the hub's part: the endpoint (`HF_ENDPOINT`, `HF_HUB_OFFLINE`), the file
URL, the headers (token, user agent), the metadata request (`get_hf_file_metadata`: ETag,
size, commit), the HTTP session and the reading of its errors, and the cache layout
(`models--ORG--NAME/blobs/ETAG` + `snapshots/COMMIT/FILE`, which `try_to_load_from_cache` and
open_clip read). The transfer loop is ours, for three reasons `hf_hub_download` (2.4) does not
cover: it deletes a partial file when a download fails (so a quit or a lost network starts
again from zero), it reads 10 MiB at a time (a progress bar and a pause that react every
10 MiB), and it checks only the size. Here:

- a partial file (`TARGET.part`, with `TARGET.part.json` naming the ETag and size it belongs
  to) is resumed with a Range request by the next download, even after the app quit;
- the finished file is checked against the hub's checksum (an LFS file's ETag is its SHA-256,
  a small file's is its git blob SHA-1) and size before it is renamed into place, so a
  truncated or corrupt file never has the name a loader looks for;
- free space is checked before the first byte, and each failure is one sentence (offline,
  TLS/proxy, 404, disk full, read-only data dir);
- cancel stops within one chunk (1 MiB); `keep_partial=False` also removes the partial file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from imgrag_desktop.types import ImgragError, ModelUnavailable


class DownloadCancelled(ImgragError):
    """The user paused or cancelled; a paused download resumes from its partial file."""


class DownloadFailed(ModelUnavailable):
    """A download could not be done; the message is one sentence saying why and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    revision: str = "main"

    @property
    def label(self) -> str:
        return f"{self.repo_id}/{self.filename}"


@dataclass(frozen=True)
class RemoteInfo:
    url: str  # where the bytes are (after the hub's redirects)
    etag: str  # the checksum the hub gives: SHA-256 for LFS files, git blob SHA-1 otherwise
    size: int  # bytes; 0 when the server does not say
    commit: str  # the revision's commit, for the cache's snapshot folder


@dataclass(frozen=True)
class DownloadEvent:
    """One progress report: bytes done of total, the recent rate and the time left."""

    name: str
    done: int
    total: int
    rate_bps: float = 0.0
    eta_s: float | None = None
    phase: str = "download"  # "download", "verify", "done"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


ProgressFn = Callable[[DownloadEvent], None]


def endpoint_now(endpoint: str | None = None) -> str:
    """The hub to use: an explicit one, else `HF_ENDPOINT` as it is now, else huggingface_hub's."""
    import huggingface_hub.constants as hc

    return (endpoint or os.environ.get("HF_ENDPOINT") or hc.ENDPOINT).rstrip("/")


def offline_now() -> bool:
    import huggingface_hub.constants as hc

    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in {"1", "ON", "YES", "TRUE"}
    return bool(hc.HF_HUB_OFFLINE)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def partial_bytes(target: Path) -> int:
    """Bytes already downloaded towards `target` (its partial file), 0 if none."""
    try:
        return partial_path(target).stat().st_size
    except OSError:
        return 0


def remove_partial(target: Path) -> None:
    part = partial_path(target)
    part.unlink(missing_ok=True)
    part.with_name(part.name + ".json").unlink(missing_ok=True)


@dataclass
class _Rate:
    """Bytes per second over the last few seconds (a moving window, so a stall shows)."""

    window_s: float = 3.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, t: float, done: int) -> float:
        self.samples.append((t, done))
        while len(self.samples) > 2 and t - self.samples[0][0] > self.window_s:
            self.samples.pop(0)
        t0, d0 = self.samples[0]
        return (done - d0) / (t - t0) if t > t0 else 0.0


class HubDownloader:
    """Downloads single files from a hub repository into a path or into a hub cache."""

    def __init__(self, endpoint: str | None = None, timeout_s: float = 20.0, chunk_size: int = 1 << 20,
                 retries: int = 3, headroom_bytes: int = 16 << 20) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.chunk_size = chunk_size
        self.retries = retries
        self.headroom_bytes = headroom_bytes  # free space to leave beyond the file itself

    # Metadata ---------------------------------------------------------------------------------
    def info(self, f: RemoteFile) -> RemoteInfo:
        """The file's checksum, size and commit from the hub (one HEAD request)."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        if offline_now():
            raise DownloadFailed(f"cannot download {f.filename}: downloads are switched off on this computer "
                                 "(HF_HUB_OFFLINE is set); unset it, or use model files already on this computer")
        endpoint = endpoint_now(self.endpoint)
        url = hf_hub_url(f.repo_id, f.filename, revision=f.revision, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=self.timeout_s, endpoint=endpoint)
        except Exception as exc:
            raise DownloadFailed(explain(exc, f, endpoint)) from exc
        return RemoteInfo(url=meta.location or url, etag=(meta.etag or "").strip('"'), size=int(meta.size or 0),
                          commit=meta.commit_hash or "")

    # Downloads --------------------------------------------------------------------------------
    def fetch_to(self, f: RemoteFile, target: Path, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, keep_partial: bool = True,
                 info: RemoteInfo | None = None) -> Path:
        """Download `f` to `target` (resuming `target.part`); returns `target` once verified.

        An existing `target` is taken as done: only a verified file is ever renamed there."""
        if target.is_file():
            return target
        info = info or self.info(f)
        self._transfer(f, info, target, progress, cancel, keep_partial)
        return target

    def fetch_cached(self, f: RemoteFile, cache_dir: Path, progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None, keep_partial: bool = True) -> Path:
        """Download `f` into a hub cache (huggingface_hub's layout); returns the snapshot path."""
        from huggingface_hub.file_download import repo_folder_name

        info = self.info(f)
        if not info.etag:
            raise DownloadFailed(f"{endpoint_now(self.endpoint)} gave no checksum (ETag) for {f.filename}: "
                                 "the file cannot be verified, so it is not downloaded")
        repo_dir = Path(cache_dir) / repo_folder_name(repo_id=f.repo_id, repo_type="model")
        blob = repo_dir / "blobs" / info.etag
        commit = info.commit or f.revision
        snapshot = repo_dir / "snapshots" / commit / f.filename
        if not blob.is_file():
            self._transfer(f, info, blob, progress, cancel, keep_partial)
        try:
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            if not snapshot.exists():
                tmp = snapshot.with_name(f".{snapshot.name}.{os.getpid()}.link")
                tmp.unlink(missing_ok=True)
                try:
                    tmp.symlink_to(os.path.relpath(blob, snapshot.parent))
                except OSError:  # no symlinks (some Windows setups): a copy, as huggingface_hub does
                    shutil.copyfile(blob, tmp)
                os.replace(tmp, snapshot)
            if info.commit and f.revision != info.commit:
                ref = repo_dir / "refs" / f.revision
                ref.parent.mkdir(parents=True, exist_ok=True)
                ref.write_text(info.commit)
        except OSError as exc:
            raise DownloadFailed(explain(exc, f, endpoint_now(self.endpoint), where=repo_dir)) from exc
        return snapshot

    def _transfer(self, f: RemoteFile, info: RemoteInfo, target: Path, progress: ProgressFn | None,
                  cancel: threading.Event | None, keep_partial: bool) -> None:
        from huggingface_hub import get_session
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        endpoint = endpoint_now(self.endpoint)
        part = partial_path(target)
        sidecar = part.with_name(part.name + ".json")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if part.exists() and _read_json(sidecar) != {"etag": info.etag, "size": info.size}:
                part.unlink()  # left by another version of the file: start again
            have = part.stat().st_size if part.exists() else 0
            if info.size and have > info.size:
                part.unlink()
                have = 0
            self._check_space(f, target.parent, max(0, info.size - have))
            sidecar.write_text(json.dumps({"etag": info.etag, "size": info.size}))
        except OSError as exc:
            raise DownloadFailed(explain(exc, f, endpoint, where=target.parent)) from exc
        rate = _Rate()
        last_emit = 0.0

        def emit(done: int, phase: str = "download", force: bool = False) -> None:
            nonlocal last_emit
            if progress is None:
                return
            now = time.monotonic()
            bps = rate.add(now, done)
            if not force and now - last_emit < 0.1:
                return
            last_emit = now
            eta = (info.size - done) / bps if bps > 0 and info.size else None
            progress(DownloadEvent(f.filename, done, info.size, bps, eta, phase))

        emit(have, force=True)
        headers = dict(build_hf_headers())
        headers["Accept-Encoding"] = "identity"
        session = get_session()
        failures = 0
        while not (info.size and have >= info.size):
            if cancel is not None and cancel.is_set():
                self._stopped(f, target, have, keep_partial)
            req = dict(headers)
            if have:
                req["Range"] = f"bytes={have}-"
            before = have
            try:
                with session.stream("GET", info.url, headers=req, follow_redirects=True,
                                    timeout=self.timeout_s) as resp:
                    if resp.status_code == 416 and have:
                        break  # the server has no more bytes: the checksum decides
                    if resp.status_code >= 400:
                        resp.read()
                        hf_raise_for_status(resp)
                    mode = "ab" if resp.status_code == 206 and have else "wb"
                    if mode == "wb":
                        have = 0
                    with part.open(mode) as fh:
                        for data in resp.iter_bytes(self.chunk_size):
                            if cancel is not None and cancel.is_set():
                                break
                            fh.write(data)
                            have += len(data)
                            emit(have)
                if cancel is not None and cancel.is_set():
                    continue  # the loop's head stops
                if not info.size:
                    break  # the server did not say how big: one whole response is the file
                if have < info.size:
                    raise ConnectionResetError("the connection closed before the end of the file")
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EFBIG):
                    raise DownloadFailed(explain(exc, f, endpoint, where=target.parent, done=have)) from exc
                failures = self._retry_or_raise(exc, f, endpoint, have, before, failures)
            except Exception as exc:  # network errors come in many types
                if _status(exc) or not _transient(exc):
                    raise DownloadFailed(explain(exc, f, endpoint, done=have)) from exc
                failures = self._retry_or_raise(exc, f, endpoint, have, before, failures)
        emit(have, "verify", force=True)
        self._verify(f, info, part, target)
        _fsync(part)  # on disk before it gets the name a loader reads (a power cut leaves no torn file)
        try:
            os.replace(part, target)
            sidecar.unlink(missing_ok=True)
        except OSError as exc:
            raise DownloadFailed(explain(exc, f, endpoint, where=target.parent)) from exc
        emit(have, "done", force=True)

    def _retry_or_raise(self, exc: BaseException, f: RemoteFile, endpoint: str, have: int, before: int,
                        failures: int) -> int:
        failures = 0 if have > before else failures + 1
        if failures > self.retries:
            raise DownloadFailed(explain(exc, f, endpoint, done=have)) from exc
        time.sleep(min(4.0, 0.25 * 2 ** failures))
        return failures

    def _stopped(self, f: RemoteFile, target: Path, have: int, keep_partial: bool) -> None:
        if keep_partial:
            raise DownloadCancelled(f"download of {f.filename} paused at {human_bytes(have)}; "
                                    "the next download resumes from there")
        remove_partial(target)
        raise DownloadCancelled(f"download of {f.filename} cancelled; the partial file was removed")

    def _check_space(self, f: RemoteFile, folder: Path, needed: int) -> None:
        if not needed:
            return
        free = shutil.disk_usage(folder).free
        if free < needed + self.headroom_bytes:
            raise DownloadFailed(
                f"not enough disk space for {f.filename}: it needs {human_bytes(needed)} and "
                f"{folder} has {human_bytes(free)} free; free some space or choose another data dir")

    def _verify(self, f: RemoteFile, info: RemoteInfo, part: Path, target: Path) -> None:
        size = part.stat().st_size
        problem = ""
        if info.size and size != info.size:
            problem = f"it has {size} bytes instead of {info.size}"
        else:
            kind = checksum_kind(info.etag)
            if kind:
                got = file_checksum(part, kind)
                if got != info.etag.lower():
                    problem = f"its {kind} is {got[:12]}… instead of {info.etag[:12]}…"
        if problem:
            remove_partial(target)
            raise DownloadFailed(f"the downloaded {f.filename} does not match the hub's checksum ({problem}); "
                                 "it was deleted and nothing was installed: download it again")


def checksum_kind(etag: str) -> str:
    """"sha256" for an LFS file's ETag, "git-sha1" for a small file's, "" when it is neither."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", etag or ""):
        return "sha256"
    if re.fullmatch(r"[0-9a-fA-F]{40}", etag or ""):
        return "git-sha1"
    return ""


def file_checksum(path: Path, kind: str = "sha256") -> str:
    h = hashlib.sha256() if kind == "sha256" else hashlib.sha1()  # noqa: S324 (git's object id, not security)
    if kind == "git-sha1":
        h.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    try:
        with path.open("rb+") as fh:
            os.fsync(fh.fileno())
    except OSError:
        pass


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _status(exc: BaseException) -> int:
    resp = getattr(exc, "response", None)
    code = getattr(resp, "status_code", 0)
    return int(code) if isinstance(code, int) else 0


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 10:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _names(exc: BaseException) -> set[str]:
    return {k.__name__ for e in _chain(exc) for k in type(e).__mro__}


def _transient(exc: BaseException) -> bool:
    names = _names(exc)
    return bool(names & {"NetworkError", "TimeoutException", "RemoteProtocolError", "ReadError",
                         "ConnectionResetError", "IncompleteRead"}) and "ConnectError" not in names


def explain(exc: BaseException, f: RemoteFile, endpoint: str, where: Path | None = None, done: int = 0) -> str:
    """One sentence for a failed download: what went wrong and what to do."""
    host = urlparse(endpoint).netloc or endpoint
    kept = f" ({human_bytes(done)} kept; the next download resumes)" if done else ""
    os_err = next((e for e in _chain(exc) if isinstance(e, OSError) and e.errno), None)
    if isinstance(os_err, OSError) and os_err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"the disk is full: {f.filename} could not be saved in {where or 'the data dir'}{kept}; "
                "free some space or choose another data dir")
    if isinstance(os_err, OSError) and os_err.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and where is not None:
        return (f"the data dir is read-only: {f.filename} cannot be saved in {where}; "
                "choose a writable data dir in Settings (or --data-dir)")
    code = _status(exc)
    if code == 404:
        return (f"{f.filename} is not in {f.repo_id} at {f.revision} (404 from {host}): the model list is out "
                "of date or the mirror lacks it; pick another model or use files on this computer")
    if code in (401, 403):
        return (f"{host} refused {f.repo_id} ({code}): the model may need its licence accepted on the hub "
                "and a login (`hf auth login`)")
    if code:
        return f"{host} answered HTTP {code} for {f.filename}{kept}; try again later"
    names = _names(exc)
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "ProxyError" in names or "proxy" in text:
        return (f"the proxy refused the connection to {host} for {f.filename}{kept}; "
                "check the proxy settings (HTTPS_PROXY)")
    if "SSLError" in names or "certificate" in text or "ssl" in text or "tls" in text:
        return (f"the secure connection to {host} failed (TLS certificate or an intercepting proxy){kept}; "
                "if a proxy inspects HTTPS, point SSL_CERT_FILE at its certificate")
    if names & {"TimeoutException", "ConnectTimeout", "ReadTimeout", "TimeoutError"}:
        return f"{host} did not answer in time while downloading {f.filename}{kept}; check the network and try again"
    if names & {"ConnectError", "ConnectionRefusedError", "gaierror", "OfflineModeIsEnabled",
                "LocalEntryNotFoundError"} or "connect" in text or "resolve" in text:
        return (f"cannot reach {host} to download {f.filename}{kept}: this computer seems to be offline; "
                "connect and try again, or use model files already on this computer")
    if names & {"NetworkError", "RemoteProtocolError", "ReadError", "ConnectionResetError"}:
        return f"the connection to {host} broke while downloading {f.filename}{kept}; try again to resume"
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
    return f"download of {f.filename} from {host} failed ({type(exc).__name__}: {first}){kept}"
