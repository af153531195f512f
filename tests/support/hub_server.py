"""A small model hub on 127.0.0.1 that answers the file endpoints huggingface_hub uses.

`HEAD/GET /{repo}/resolve/{revision}/{file}` with the hub's headers: `ETag` (a small file's
git blob SHA-1), `X-Linked-Etag` and `X-Linked-Size` (an LFS file's SHA-256 and size),
`X-Repo-Commit`, `Content-Length`, `Accept-Ranges`; GET honours `Range` (206, 416) and
`X-Error-Code: EntryNotFound` / `RepoNotFound` comes with a 404. Files are served from disk in
chunks (a multi-GB sparse file costs no memory). For tests: `drop_after` closes the connection
after that many body bytes (for the next `drops` GETs), `delay_s` throttles each 64 KiB,
`lie_checksum` advertises a SHA-256 the bytes do not have. Real sockets, real threads: the
download code under test is the product's, unchanged.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_THRESHOLD = 10_000  # bytes: bigger files are served as LFS files (SHA-256 ETag), as on the hub


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def git_sha1_of(path: Path) -> str:
    h = hashlib.sha1()  # noqa: S324 (git's object id)
    h.update(f"blob {path.stat().st_size}\0".encode())
    h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class HubState:
    files: dict[tuple[str, str], Path] = field(default_factory=dict)
    checksums: dict[Path, str] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range)
    drop_after: int = 0
    drops: int = 0
    delay_s: float = 0.0
    lie_checksum: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def checksum(self, path: Path) -> str:
        with self.lock:
            if path not in self.checksums:
                big = path.stat().st_size > LFS_THRESHOLD
                self.checksums[path] = sha256_of(path) if big else git_sha1_of(path)
            return self.checksums[path]


class _Handler(http.server.BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _target(self) -> tuple[str, str, str] | None:
        path = unquote(self.path.split("?", 1)[0]).lstrip("/")
        if "/resolve/" not in path:
            return None
        repo, rest = path.split("/resolve/", 1)
        revision, _, filename = rest.partition("/")
        return repo, revision, filename

    def _not_found(self, code: str) -> None:
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _headers(self, f: Path) -> tuple[int, int]:
        st = self.state
        size = f.stat().st_size
        checksum = st.checksum(f)
        if st.lie_checksum:
            checksum = hashlib.sha256(b"not these bytes").hexdigest()
        start = 0
        rng = self.headers.get("Range") if self.command == "GET" else None
        if rng:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return -1, size
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        if size > LFS_THRESHOLD or st.lie_checksum:
            self.send_header("X-Linked-Etag", f'"{checksum}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("ETag", f'"{git_sha1_of_pointer(checksum, size)}"')
        else:
            self.send_header("ETag", f'"{checksum}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        return start, size

    def _resolve(self) -> Path | None:
        target = self._target()
        if target is None:
            self._not_found("RepoNotFound")
            return None
        repo, _revision, filename = target
        f = self.state.files.get((repo, filename))
        if f is None:
            self._not_found("EntryNotFound" if any(r == repo for r, _ in self.state.files) else "RepoNotFound")
            return None
        return f

    def do_HEAD(self) -> None:  # noqa: N802
        self.state.requests.append(("HEAD", self.path, ""))
        f = self._resolve()
        if f is not None:
            self._headers(f)

    def do_GET(self) -> None:  # noqa: N802
        st = self.state
        st.requests.append(("GET", self.path, self.headers.get("Range") or ""))
        f = self._resolve()
        if f is None:
            return
        start, size = self._headers(f)
        if start < 0:
            return
        with st.lock:
            drop = st.drop_after if st.drops > 0 else 0
            if drop:
                st.drops -= 1
        sent = 0
        try:
            with f.open("rb") as fh:
                fh.seek(start)
                while block := fh.read(1 << 16):
                    if drop and sent + len(block) >= drop:
                        self.wfile.write(block[: max(0, drop - sent)])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(block)
                    sent += len(block)
                    if st.delay_s:
                        threading.Event().wait(st.delay_s)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client went away (cancel, pause)


def git_sha1_of_pointer(sha: str, size: int) -> str:
    """The git object id of an LFS pointer file (what the hub gives as the plain ETag)."""
    text = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
    return hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()  # noqa: S324


class LoopbackHub:
    """`with LoopbackHub() as hub: hub.add("org/repo", path); hub.endpoint` → http://127.0.0.1:PORT."""

    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="loopback-hub", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo_id: str, path: Path, filename: str | None = None) -> str:
        name = filename or path.name
        self.state.files[(repo_id, name)] = Path(path)
        return name

    def gets(self) -> list[tuple[str, str, str]]:
        return [r for r in self.state.requests if r[0] == "GET"]

    def start(self) -> "LoopbackHub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "LoopbackHub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
