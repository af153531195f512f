"""The Qt binding itself must survive a long session.

PySide6 6.12.0 drops a reference to None on every call of a method that returns nothing
(QPainter.save, setRenderHint, ...): painting the results grid makes hundreds of such calls
per repaint, and once None's reference count reaches zero the interpreter aborts with
"Fatal Python error: none_dealloc: deallocating None". pyproject.toml excludes that release;
this test says so plainly on an environment that still has it.
"""

from __future__ import annotations

import sys

import PySide6
import pytest
from PySide6.QtGui import QPainter, QPixmap

BROKEN = {"6.12.0"}


@pytest.mark.xfail(PySide6.__version__ in BROKEN, strict=True,
                   reason=f"PySide6 {PySide6.__version__} leaks references to None: "
                          "pip install 'PySide6-Essentials>=6.6,!=6.12.0'")
def test_void_calls_do_not_drain_none(qtbot) -> None:
    pix = QPixmap(8, 8)
    painter = QPainter(pix)
    try:
        n = 200
        before = sys.getrefcount(None)
        for _ in range(n):  # well below None's count: a leak is measured, not a crash provoked
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.restore()
        lost = before - sys.getrefcount(None)
    finally:
        painter.end()
    assert lost < n // 2, f"{lost} references to None lost in {3 * n} calls"
