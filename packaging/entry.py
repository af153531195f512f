"""Entry point of the bundled app: one program, two names.

`imgrag-desktop` (or no arguments from a file manager) opens the window; `imgrag` is the
command line. `imgrag -m MODULE ...` runs a package module, which the app uses to start
helper processes (the VLM safety probe) when frozen, where `python -m` does not exist.
"""

import os
import runpy
import sys


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m" and sys.argv[2].startswith("imgrag_desktop."):
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    name = os.path.basename(sys.argv[0]).lower()
    if name.startswith("imgrag-desktop"):
        from imgrag_desktop.__main__ import main as gui_main  # the window, serving warm queries

        return int(gui_main(sys.argv[1:]) or 0)
    from imgrag_desktop.cli import main as cli_main

    return int(cli_main(sys.argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
