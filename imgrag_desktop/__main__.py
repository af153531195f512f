"""`python -m imgrag_desktop` starts the window, like the `imgrag-desktop` command."""

from typing import Any

from imgrag_desktop.gui.app import main as window_main


def serve_warm(services: Any) -> Any:
    """Answer `imgrag search/similar/ask` of other processes from the window (cli/commands/warm.py)."""
    from imgrag_desktop.cli.commands.warm import serve

    return serve(services, {"front": "window", "ready": True})


def main(argv: list[str] | None = None) -> int:
    return window_main(argv, serve_warm=serve_warm)


if __name__ == "__main__":
    raise SystemExit(main())
