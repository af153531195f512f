"""The desktop's search box reaches a running window: a photo clicked in GNOME's overview or
KRunner opens in the window's viewer, "more results" searches there (through the window's warm
socket, as `imgrag desktop-search` sends them)."""

from __future__ import annotations

from typing import Any

from imgrag_desktop import warm
from imgrag_desktop.cli.commands.desktop_search import Launcher
from imgrag_desktop.gui.desktop_requests import DesktopRequests


def test_a_photo_picked_in_the_desktop_search_opens_in_the_window_viewer(qtbot, make_window, indexed_dir, gui_photos):
    w = make_window(indexed_dir)
    srv = warm.WarmServer(indexed_dir, lambda req: {"fallback": True, "reason": "no commands here"}).start()
    srv.ops.update(DesktopRequests(w).ops())
    try:
        photo = str(sorted(gui_photos.iterdir())[3])
        launcher = Launcher(str(indexed_dir), "test")
        assert launcher.ask_window({"op": "show", "path": photo})
        qtbot.waitUntil(lambda: w.page.viewer_open() and w.page.viewer.current_path() == photo, timeout=60_000)

        other = str(sorted(gui_photos.iterdir())[5])
        with qtbot.waitSignal(w.resultsShown, timeout=60_000, check_params_cb=lambda i: i.get("kind") == "similar"):
            assert launcher.ask_window({"op": "similar", "path": other})  # KRunner's look-alikes action
        assert not w.page.viewer_open()

        got: dict[str, Any] = {}
        with qtbot.waitSignal(w.resultsShown, timeout=60_000,
                              check_params_cb=lambda i: i.get("kind") == "text" and bool(got.update(i)) is False):
            assert launcher.ask_window({"op": "query", "text": "people on a beach"})
        assert w.search_edit.text() == "people on a beach" and got["count"] > 0
        # What the window cannot take is declined: the service then uses the desktop's viewer.
        assert not launcher.ask_window({"op": "show", "path": str(indexed_dir / "no such.jpg")})
        assert not launcher.ask_window({"op": "run", "command": "search"})
    finally:
        srv.stop()
    assert not Launcher(str(indexed_dir), "test").ask_window({"op": "show", "path": photo})  # no window: False
