"""`python -m imgrag_desktop` starts the window, like the `imgrag-desktop` command."""

from imgrag_desktop.gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
