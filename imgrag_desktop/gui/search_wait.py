"""While a search runs: the grid shows it is waiting, not the previous answer as if current.

A search that answers within GRACE_MS changes nothing on screen (no flicker while typing);
past that, the previous results are greyed out (disabled: they are the last query's) and a
bar over them says "Searching “…”" with a busy indicator, until the answer or the error of
the newest request arrives. Only the newest request counts: a new query restarts the wait.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QWidget

GRACE_MS = 150


class SearchWait(QFrame):
    """A strip over the top of `view`; `start(label)` when a search is sent, `stop()` when its
    answer is shown."""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view.parentWidget() or view)  # beside the view: not greyed with it
        self.view = view
        self.setObjectName("search-wait")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 10, 4)
        self.label = QLabel("", self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # busy: no fraction to show
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(120)
        self.busy.setAccessibleName("Searching")
        row.addWidget(self.label, 1)
        row.addWidget(self.busy)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._show)
        view.installEventFilter(self)
        self.hide()

    @property
    def waiting(self) -> bool:
        """A search was sent and its answer is not shown yet."""
        return self._timer.isActive() or self.isVisible()

    def start(self, label: str, loading: bool = False) -> None:
        """`loading`: the image model is still being loaded, and the search waits for it."""
        self.label.setText(f"Loading the image model, then searching {label}…" if loading else f"Searching {label}…")
        if not self.isVisible():
            self._timer.start(GRACE_MS)

    def stop(self) -> None:
        self._timer.stop()
        self.hide()
        self.view.setEnabled(True)

    def _show(self) -> None:
        self.view.setEnabled(False)  # the previous answer, greyed: not the current one
        self._place()
        self.show()
        self.raise_()

    def _place(self) -> None:
        g = self.view.geometry() if self.parentWidget() is not self.view else self.view.rect()
        self.setGeometry(g.x() + 8, g.y() + 8, max(0, g.width() - 16), self.sizeHint().height())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.view and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
