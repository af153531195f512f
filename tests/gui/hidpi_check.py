"""Run in a child process by test_layout_hidpi (QT_SCALE_FACTOR must be set before the
QApplication exists, and pytest-qt's is made once per session at scale 1): open the window on
DATA at 1280×800 logical pixels and print the layout problems found, as JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(data: Path) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.window import MainWindow
    from tests.gui.test_layout import layout_problems

    app = QApplication([sys.argv[0]])
    w = MainWindow(AppConfig.load(data, "test"))
    loop = QEventLoop()
    w.engineReady.connect(lambda *_: loop.quit())
    QTimer.singleShot(120_000, loop.quit)
    w.resize(1280, 800)
    w.show()
    loop.exec()
    w.filters_button.setChecked(True)
    import time

    t0 = time.monotonic()
    while w.model.rowCount() == 0 and time.monotonic() - t0 < 60:  # the first browse follows the engine
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
    QTimer.singleShot(200, loop.quit)
    loop.exec()
    out = {"ratio": w.devicePixelRatioF(), "size": [w.width(), w.height()],
           "rows": w.model.rowCount(), "columns": w.view.columns(),
           "folders": w.folders_dock.isVisible(), "search_width": w.search_edit.width(),
           "problems": layout_problems(w.page)}
    w.close()
    w.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
