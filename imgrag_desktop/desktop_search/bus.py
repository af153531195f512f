"""The D-Bus side of the desktop search: one session-bus name, two objects, one process.

Built on jeepney (pure Python, no C extension, no event-loop framework): the service needs to
receive method calls and send replies with explicit signatures (GNOME's `aa{sv}` metas with
their variants, KRunner's `a(sssida{sv})` matches with `(iiibiiay)` icon data), which jeepney
writes exactly as given. PySide6's QtDBus could do it too, but only the window may import Qt
(.importlinter), Qt's exported-object marshalling of nested variants from Python is awkward,
and a service that stays resident should not carry a Qt event loop.

Method calls are answered on a small thread pool so a slow first search (the engine loading)
never stops the bus loop from taking the next call; sends are serialised by one lock.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from imgrag_desktop.desktop_search import BUS_NAME, GNOME_IFACE, GNOME_PATH, KRUNNER_IFACE, KRUNNER_PATH, MIN_CHARS
from imgrag_desktop.desktop_search.provider import KRUNNER_ACTIONS, Provider
from imgrag_desktop.types import ImgragError

log = logging.getLogger(__name__)

DBUS_NAME_FLAG_DO_NOT_QUEUE = 4
PRIMARY_OWNER, ALREADY_OWNER = 1, 4

GNOME_XML = f"""<interface name="{GNOME_IFACE}">
  <method name="GetInitialResultSet"><arg type="as" name="terms" direction="in"/><arg type="as" name="results" direction="out"/></method>
  <method name="GetSubsearchResultSet"><arg type="as" name="previous_results" direction="in"/><arg type="as" name="terms" direction="in"/><arg type="as" name="results" direction="out"/></method>
  <method name="GetResultMetas"><arg type="as" name="identifiers" direction="in"/><arg type="aa{{sv}}" name="metas" direction="out"/></method>
  <method name="ActivateResult"><arg type="s" name="identifier" direction="in"/><arg type="as" name="terms" direction="in"/><arg type="u" name="timestamp" direction="in"/></method>
  <method name="LaunchSearch"><arg type="as" name="terms" direction="in"/><arg type="u" name="timestamp" direction="in"/></method>
</interface>"""
KRUNNER_XML = f"""<interface name="{KRUNNER_IFACE}">
  <method name="Actions"><arg type="a(sss)" name="matches" direction="out"/></method>
  <method name="Match"><arg type="s" name="query" direction="in"/><arg type="a(sssida{{sv}})" name="matches" direction="out"/></method>
  <method name="Run"><arg type="s" name="matchId" direction="in"/><arg type="s" name="actionId" direction="in"/></method>
  <method name="Teardown"/>
  <method name="Config"><arg type="a{{sv}}" name="config" direction="out"/></method>
</interface>"""
STANDARD_XML = """<interface name="org.freedesktop.DBus.Introspectable">
  <method name="Introspect"><arg type="s" name="xml_data" direction="out"/></method>
</interface>
<interface name="org.freedesktop.DBus.Peer">
  <method name="Ping"/>
  <method name="GetMachineId"><arg type="s" name="machine_uuid" direction="out"/></method>
</interface>"""
DOCTYPE = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" '
           '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n')

# (object path, member) → (in signature, out signature)
SIGNATURES: dict[tuple[str, str], tuple[str, str]] = {
    (GNOME_PATH, "GetInitialResultSet"): ("as", "as"),
    (GNOME_PATH, "GetSubsearchResultSet"): ("asas", "as"),
    (GNOME_PATH, "GetResultMetas"): ("as", "aa{sv}"),
    (GNOME_PATH, "ActivateResult"): ("sasu", ""),
    (GNOME_PATH, "LaunchSearch"): ("asu", ""),
    (KRUNNER_PATH, "Actions"): ("", "a(sss)"),
    (KRUNNER_PATH, "Match"): ("s", "a(sssida{sv})"),
    (KRUNNER_PATH, "Run"): ("ss", ""),
    (KRUNNER_PATH, "Teardown"): ("", ""),
    (KRUNNER_PATH, "Config"): ("", "a{sv}"),
}
INTERFACES = {GNOME_PATH: GNOME_IFACE, KRUNNER_PATH: KRUNNER_IFACE}


class DBusFailure(Exception):
    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


def introspect(path: str) -> str:
    """The introspection XML of `path`: an object's interfaces, or the next parts of the paths
    below it (so `gdbus introspect --recurse` and d-feet find both objects)."""
    inner = []
    if path in INTERFACES:
        inner.append(GNOME_XML if path == GNOME_PATH else KRUNNER_XML)
    inner.append(STANDARD_XML)
    prefix = path.rstrip("/") + "/"
    children = sorted({p[len(prefix):].split("/")[0] for p in INTERFACES if p.startswith(prefix)})
    inner += [f'<node name="{c}"/>' for c in children]
    return DOCTYPE + "<node>\n" + "\n".join(inner) + "\n</node>\n"


def _machine_id() -> str:
    for f in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(f, encoding="ascii") as fh:
                return fh.read().strip()
        except OSError:
            continue
    raise DBusFailure("org.freedesktop.DBus.Error.Failed", "no machine id on this system")


def _gnome_meta(meta: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {k: ("s", str(meta[k])) for k in ("id", "name", "description", "clipboardText")}
    # A file path is a valid serialised GIcon (a GFileIcon): the Shell loads it at its icon size.
    out["gicon"] = ("s", meta["thumbnail"] or "image-x-generic")
    return out


def _krunner_match(m: tuple[str, str, str, int, float, dict[str, Any]]) -> tuple[Any, ...]:
    mid, text, icon, kind, relevance, props = m
    variants: dict[str, tuple[str, Any]] = {}
    for key, value in props.items():
        if key == "icon-data":
            variants[key] = ("(iiibiiay)", value)
        elif key == "urls":
            variants[key] = ("as", list(value))
        else:
            variants[key] = ("s", str(value))
    return (mid, text, icon, int(kind), float(relevance), variants)


class Service:
    """Owns the bus name and answers calls until `stop` is set (or it was idle `idle_exit_s`)."""

    def __init__(self, provider: Provider, bus_name: str = BUS_NAME, address: str = "SESSION",
                 idle_exit_s: float = 0.0, workers: int = 2) -> None:
        self.provider = provider
        self.bus_name = bus_name
        self.address = address
        self.idle_exit_s = float(idle_exit_s)
        self.stop = threading.Event()
        self.calls = 0
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="imgrag-dbus")
        self._send_lock = threading.Lock()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._last = time.monotonic()

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, on_ready: Callable[[str], None] | None = None) -> int:
        """Serve; returns 0 after a stop or an idle exit. An ImgragError when the bus cannot be
        reached or another process already owns the name."""
        from jeepney import MessageType
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        try:
            conn = open_dbus_connection(bus=self.address)
        except KeyError as exc:
            raise ImgragError("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set; desktop search runs "
                              "inside a desktop session (D-Bus starts it there)") from exc
        except (OSError, ValueError) as exc:
            raise ImgragError(f"cannot reach the D-Bus session bus at {self.address}: {exc}") from exc
        try:
            reply = conn.send_and_get_reply(message_bus.RequestName(self.bus_name, DBUS_NAME_FLAG_DO_NOT_QUEUE),
                                            timeout=10)
            code = reply.body[0] if reply.body else 0
            if code not in (PRIMARY_OWNER, ALREADY_OWNER):
                raise ImgragError(f"another process already serves {self.bus_name} on this session bus")
            if on_ready is not None:
                on_ready(conn.unique_name)
            while not self.stop.is_set():
                try:
                    msg = conn.receive(timeout=0.5)
                except TimeoutError:
                    if self._idle_too_long():
                        log.info("no desktop search for %.0f s: exiting (D-Bus starts it again)", self.idle_exit_s)
                        break
                    continue
                if msg.header.message_type != MessageType.method_call:
                    continue
                with self._busy_lock:
                    self._busy += 1
                    self._last = time.monotonic()
                self._pool.submit(self._answer, conn, msg)
            self._pool.shutdown(wait=True)
            try:
                conn.send_and_get_reply(message_bus.ReleaseName(self.bus_name), timeout=5)
            except (OSError, TimeoutError):
                pass
        except (ConnectionError, OSError) as exc:
            if not self.stop.is_set():
                raise ImgragError(f"lost the D-Bus session bus: {exc}") from exc
        finally:
            conn.close()
        return 0

    def _idle_too_long(self) -> bool:
        if self.idle_exit_s <= 0:
            return False
        with self._busy_lock:
            return self._busy == 0 and time.monotonic() - self._last > self.idle_exit_s

    def _answer(self, conn: Any, msg: Any) -> None:
        from jeepney import HeaderFields, new_error, new_method_return

        try:
            fields = msg.header.fields
            path = fields.get(HeaderFields.path, "")
            member = fields.get(HeaderFields.member, "")
            iface = fields.get(HeaderFields.interface)
            sig = fields.get(HeaderFields.signature, "")
            try:
                out_sig, body = self.dispatch(path, iface, member, sig, tuple(msg.body))
                reply = new_method_return(msg, out_sig or None, body)
            except DBusFailure as exc:
                reply = new_error(msg, exc.name, "s", (str(exc),))
            except (ValueError, ImgragError) as exc:
                reply = new_error(msg, "org.freedesktop.DBus.Error.InvalidArgs" if isinstance(exc, ValueError)
                                  else "org.freedesktop.DBus.Error.Failed", "s", (str(exc),))
            except Exception as exc:  # a bug must not take the service down: the caller hears why
                log.exception("desktop search: %s failed", member)
                reply = new_error(msg, "org.freedesktop.DBus.Error.Failed", "s", (f"{type(exc).__name__}: {exc}",))
            if msg.header.flags & 1:  # NO_REPLY_EXPECTED
                return
            with self._send_lock:
                conn.send(reply)
        except OSError as exc:
            log.warning("desktop search: could not answer: %s", exc)
        finally:
            with self._busy_lock:
                self._busy -= 1
                self._last = time.monotonic()
                self.calls += 1

    # -- the methods ---------------------------------------------------------------------------------
    def dispatch(self, path: str, iface: str | None, member: str, sig: str,
                 args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """(out signature, body) of one call; DBusFailure for what this object does not have."""
        if iface in (None, "org.freedesktop.DBus.Introspectable") and member == "Introspect" and sig == "":
            return "s", (introspect(path),)
        if iface in (None, "org.freedesktop.DBus.Peer") and member == "Ping" and sig == "":
            return "", ()
        if iface in (None, "org.freedesktop.DBus.Peer") and member == "GetMachineId" and sig == "":
            return "s", (_machine_id(),)
        known = SIGNATURES.get((path, member))
        if known is None or iface not in (None, INTERFACES.get(path)):
            if path not in INTERFACES:
                raise DBusFailure("org.freedesktop.DBus.Error.UnknownObject", f"no object at {path}")
            raise DBusFailure("org.freedesktop.DBus.Error.UnknownMethod", f"{path} has no method {iface}.{member}")
        in_sig, out_sig = known
        if sig != in_sig:
            raise DBusFailure("org.freedesktop.DBus.Error.InvalidArgs",
                              f"{member} takes ({in_sig}), not ({sig})")
        p = self.provider
        if member == "GetInitialResultSet":
            return out_sig, (p.initial(list(args[0])),)
        if member == "GetSubsearchResultSet":
            return out_sig, (p.subsearch(list(args[0]), list(args[1])),)
        if member == "GetResultMetas":
            return out_sig, ([_gnome_meta(m) for m in p.metas(list(args[0]))],)
        if member == "ActivateResult":
            p.activate(args[0])
            return "", ()
        if member == "LaunchSearch":
            p.launch(list(args[0]))
            return "", ()
        if member == "Actions":
            return out_sig, (list(KRUNNER_ACTIONS),)
        if member == "Match":
            return out_sig, ([_krunner_match(m) for m in p.krunner_matches(args[0])],)
        if member == "Run":
            p.krunner_run(args[0], args[1])
            return "", ()
        if member == "Config":
            return out_sig, ({"MinLetterCount": ("i", max(MIN_CHARS, p.min_chars))},)
        return "", ()  # Teardown: the query session ended; nothing is held per session
