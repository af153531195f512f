"""Warm queries: a running window or `imgrag watch` answers `imgrag search/similar/ask` for
other processes over a Unix socket in the data dir, with its models and vectors already loaded.

A cold `imgrag search` spends ~6 s importing torch, open_clip and LanceDB and loading the
vectors before its first query; through the socket the same command answers in tens of ms.
This module is the transport only (standard library, nothing heavy imported): the server runs
whatever `handler` it was given (the command line's own command runner, so the output is the
same byte for byte) and the client hands back what it answered.

Safety: the socket is a file `imgrag.sock` in the data dir, created owner-only (0600) inside a
0700-checked directory; the server answers only peers of its own user (SO_PEERCRED), and
there is no network listener. A socket file left by a crashed server refuses connections:
the client then treats it as absent (and the next server replaces it).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import threading
from pathlib import Path
from typing import Any, Callable

SOCKET_NAME = "imgrag.sock"
PROTOCOL = 1
CONNECT_TIMEOUT_S = 0.5
# A request larger than this is refused (a query is a few hundred bytes).
MAX_REQUEST = 1 << 20

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / SOCKET_NAME


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    conn.sendall(struct.pack("!I", len(data)) + data)


def _recv(conn: socket.socket, limit: int | None = None) -> dict[str, Any] | None:
    head = _read_exact(conn, 4)
    if head is None:
        return None
    (size,) = struct.unpack("!I", head)
    if limit is not None and size > limit:
        return None
    body = _read_exact(conn, size)
    if body is None:
        return None
    out = json.loads(body.decode("utf-8"))
    return out if isinstance(out, dict) else None


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[1])
    except (AttributeError, OSError):  # not Linux: the 0600 file mode is the guard
        return None


class WarmServer:
    """Serves requests on the data dir's socket from a daemon thread until `stop()`."""

    def __init__(self, data_dir: str | os.PathLike[str], handler: Handler, info: dict[str, Any] | None = None) -> None:
        self.path = socket_path(data_dir)
        self.handler = handler
        self.info = dict(info or {})
        # Requests other than running a command, by "op": a window adds "show", "similar", "query" for
        # the desktop's search (gui/desktop_requests.py); the rest go to `handler`.
        self.ops: dict[str, Handler] = {}
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> "WarmServer":
        """Listen (replacing a stale socket file; refusing to replace a live server's)."""
        if probe(self.path.parent):
            raise OSError(f"another process already serves {self.path}")
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the file is born 0600: no window where others could connect
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="imgrag-warm", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self._answer, args=(conn,), name="imgrag-warm-query", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                uid = _peer_uid(conn)
                if uid is not None and uid != os.getuid():
                    return
                conn.settimeout(10)
                req = _recv(conn, MAX_REQUEST)
                if req is None:
                    return
                conn.settimeout(None)
                if req.get("op") == "ping":
                    _send(conn, {"protocol": PROTOCOL, "pid": os.getpid(), **self.info})
                    return
                try:
                    op = self.ops.get(str(req.get("op")))
                    reply = op(req) if op is not None else self.handler(req)
                except Exception as exc:  # the client then runs the command itself
                    reply = {"fallback": True, "reason": f"{type(exc).__name__}: {exc}"}
                _send(conn, reply)
            except (OSError, ValueError):
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:  # only our own socket file: a newer server may have replaced it meanwhile
            st = os.stat(self.path)
            if self._sock is not None and stat.S_ISSOCK(st.st_mode) and not probe(self.path.parent):
                self.path.unlink()
        except OSError:
            pass


def _connect(path: Path) -> socket.socket | None:
    """A connection to a live server of this user at `path`, or None (absent, stale, foreign)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(str(path))
    except OSError:  # ECONNREFUSED: a socket file without a server (it crashed)
        sock.close()
        return None
    return sock


def probe(data_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The live server's info (pid, data dir, profile), or None when none answers."""
    sock = _connect(socket_path(data_dir))
    if sock is None:
        return None
    with sock:
        try:
            _send(sock, {"op": "ping"})
            return _recv(sock)
        except (OSError, ValueError):
            return None


def request(data_dir: str | os.PathLike[str], req: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any] | None:
    """Send one request to the data dir's server; its reply, or None when there is no server
    (or it went away mid-way): the caller then does the work itself."""
    sock = _connect(socket_path(data_dir))
    if sock is None:
        return None
    with sock:
        try:
            sock.settimeout(timeout_s)
            _send(sock, {"protocol": PROTOCOL, **req})
            reply = _recv(sock)
        except (OSError, ValueError):
            return None
    if reply is None or reply.get("fallback"):
        return None
    return reply
