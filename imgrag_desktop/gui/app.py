"""`imgrag-desktop` (and `python -m imgrag_desktop`, `imgrag gui`): start the window.

The window is shown before the engine is imported: torch, open_clip and lancedb load in a
worker thread after the first paint, so the app appears in well under a second even on a
slow machine. Options under "test automation" drive the window for tests and screenshots.
"""

from __future__ import annotations

import time

STARTED_AT = time.time()  # before Qt is imported: the automation report measures from here

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any, Callable  # noqa: E402

from imgrag_desktop import __version__  # noqa: E402
from imgrag_desktop.config import PROFILES  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imgrag-desktop",
                                description="Search your own photos and screenshots, offline.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="open with the look-alikes of this image")
    p.add_argument("--data-dir", help="where the index, thumbnails and settings live (also IMGRAG_DATA_DIR)")
    p.add_argument("--profile", choices=list(PROFILES),
                   help="model profile; 'test' uses tiny offline models (also IMGRAG_PROFILE)")
    p.add_argument("--version", action="version", version=f"imgrag-desktop {__version__}")
    g = p.add_argument_group("test automation", "drive the window for tests, benchmarks and screenshots")
    g.add_argument("--add-folder", action="append", default=[], metavar="PATH", help="add and index this folder")
    g.add_argument("--query", metavar="TEXT", help="search for TEXT once the engine is ready (and indexing is done)")
    g.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="set a filter of the filter bar and show it (kind, orientation, when, min_size, camera; "
                        "repeatable)")
    g.add_argument("--tab", metavar="TITLE", help="switch to this tab (e.g. Duplicates) before the screenshot")
    g.add_argument("--screenshot", metavar="PNG", help="save a picture of the window when the results are shown")
    g.add_argument("--report", metavar="JSON", help="write timings (start → shown, event-loop stalls) as JSON")
    g.add_argument("--quit-after", action="store_true", help="quit once the steps above are done")
    g.add_argument("--window-size", metavar="WxH", help="initial window size, e.g. 1280x800")
    g.add_argument("--automation-timeout", type=float, default=600.0, metavar="S",
                   help="give up (exit status 3) after S seconds")
    return p


def _install_excepthook(bridge: Any) -> None:
    """An exception escaping a slot becomes an error dialog with details, not a dead window."""
    from imgrag_desktop.gui.messages import describe_exception

    previous = sys.excepthook

    def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        logging.getLogger("imgrag_desktop.gui").error("uncaught exception", exc_info=(exc_type, exc, tb))
        try:
            text, details = describe_exception(exc.with_traceback(tb))
            bridge.error(text, details)
        except Exception:
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def main(argv: list[str] | None = None, serve_warm: "Callable[[Any], Any] | None" = None) -> int:
    """The window. `serve_warm(services)`, when given (by the entry points), starts answering
    `imgrag search/similar/ask` of other processes once the engine is ready (warm.py)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if os.environ.get("IMGRAG_DEBUG") else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from imgrag_desktop import resources_util
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui import style
    from imgrag_desktop.gui.messages import MessageBridge
    from imgrag_desktop.gui.state import resolve_data_dir
    from imgrag_desktop.types import ImgragError

    app: QApplication = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "imgrag-desktop"])  # type: ignore[assignment]
    app.setApplicationName("imgrag-desktop")
    app.setApplicationDisplayName("imgrag-desktop")
    app.setApplicationVersion(__version__)
    # The Wayland app id: it must name the installed .desktop file for the desktop to show the
    # window under the menu entry's icon and name.
    app.setDesktopFileName(resources_util.APP_ID)
    app.setWindowIcon(style.app_icon())
    app.setStyleSheet(style.stylesheet())

    profile = args.profile or os.environ.get("IMGRAG_PROFILE") or "default"
    try:
        cfg = AppConfig.load(resolve_data_dir(args.data_dir, profile), profile)
        cfg.ensure_dirs()
    except (ImgragError, OSError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"imgrag-desktop: {text}", file=sys.stderr)
        if app.platformName() not in ("offscreen", "minimal"):  # nobody could close a dialog there
            QMessageBox.critical(None, "imgrag-desktop cannot start", text)
        return 1

    from imgrag_desktop.gui.window import MainWindow

    bridge = MessageBridge()
    _install_excepthook(bridge)
    window = MainWindow(cfg, bridge)
    if args.window_size:
        try:
            w, h = (int(x) for x in args.window_size.lower().split("x"))
            window.resize(w, h)
        except ValueError:
            print(f"imgrag-desktop: ignoring --window-size {args.window_size!r} (use WxH)", file=sys.stderr)
    automation = None
    if args.add_folder or args.query or args.screenshot or args.report or args.quit_after or args.filter or args.tab:
        from imgrag_desktop.gui.automation import Automation, parse_filters

        try:
            filters = parse_filters(args.filter)
        except ValueError as exc:
            print(f"imgrag-desktop: {exc}", file=sys.stderr)
            return 2
        automation = Automation(window, STARTED_AT, add_folders=args.add_folder, query=args.query,
                                expect_results=bool(args.images), screenshot=args.screenshot, report=args.report,
                                quit_after=args.quit_after, timeout_s=args.automation_timeout, filters=filters,
                                tab=args.tab)
    if args.images:
        first = os.path.abspath(args.images[0])
        window.shown.connect(lambda: QTimer.singleShot(0, lambda: window.find_similar(first)))
    unloader = window.host.services.idle_unloader()  # models leave RAM when idle (models/idle.py)
    window.engineReady.connect(lambda info: unloader.start())
    warm_servers: list[Any] = []
    closing = threading.Event()
    if serve_warm is not None:
        from imgrag_desktop.gui.desktop_requests import DesktopRequests

        desktop_requests = DesktopRequests(window)  # the desktop's search opens photos here

        def serve_now() -> None:
            server = serve_warm(window.host.services)
            if server is not None and closing.is_set():  # the window closed meanwhile
                server.stop()
            else:
                if server is not None:
                    server.ops.update(desktop_requests.ops())
                warm_servers.append(server)

        def start_warm(info: dict[str, Any]) -> None:
            if "error" in info or warm_servers:
                return
            warm_servers.append(None)  # once; started off the GUI thread (it imports the runner)
            threading.Thread(target=serve_now, name="imgrag-warm-start", daemon=True).start()

        window.engineReady.connect(start_warm)
    window.show()
    rc = app.exec()
    closing.set()
    for server in warm_servers:
        if server is not None:
            server.stop()
    unloader.stop()
    stopped = window.shutdown()
    if automation is not None and automation.exit_code:
        rc = automation.exit_code
    if not stopped:  # a worker is stuck in a model call: do not hang the user's quit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return int(rc)


if __name__ == "__main__":
    raise SystemExit(main())
