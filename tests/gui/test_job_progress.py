"""The status bar words indexing as a user would (gui/job_progress.py): steps by name, time
left at the step's own pace, the job's true duration; and the label keeps its width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrag_desktop.gui.job_progress import STEP_WORDS, WIDEST, JobClock, duration, step_words
from imgrag_desktop.types import Progress


def test_steps_are_said_in_user_words() -> None:
    assert step_words("ocr") == "Reading text" and step_words("faces") == "Finding faces"
    assert step_words("text vectors") == "Preparing text search" and step_words("calibrate") == "Tuning the search"
    assert step_words("new_thing") == "New thing"  # a stage added later still reads as words
    assert all(w[0].isupper() and "_" not in w for w in STEP_WORDS.values())
    assert all(len(f"{w} 88888/88888 · about 88 min left") <= len(WIDEST)
               for k, w in STEP_WORDS.items() if k != "reembed")  # that one has its own line (index_queue)


def test_time_left_follows_the_pace_of_the_step() -> None:
    now = [100.0]
    clock = JobClock(lambda: now[0])
    assert clock.line(Progress("ocr", 0, 20)) == "Reading text 0/20"
    now[0] += 0.5
    assert clock.line(Progress("ocr", 2, 20)) == "Reading text 2/20"  # too early to tell a pace
    now[0] += 1.5  # 4 done in 2 s: 0.5 s each, 16 left
    assert clock.line(Progress("ocr", 4, 20)) == "Reading text 4/20 · about 8 s left"
    now[0] += 1.0
    assert clock.line(Progress("faces", 0, 10)) == "Finding faces 0/10"  # a new step: a new pace
    now[0] += 2.0
    assert clock.line(Progress("faces", 1, 10)) == "Finding faces 1/10 · about 18 s left"
    assert clock.line(Progress("calibrate")) == "Tuning the search…"
    assert clock.elapsed() == 5.0  # the job's time, every step included


def test_durations_read_naturally() -> None:
    assert duration(0.4) == "under 1 s" and duration(9.2) == "9 s"
    assert duration(65) == "1 min 5 s" and duration(120) == "2 min" and duration(7380) == "2 h 3 min"


def test_the_finished_line_gives_the_whole_jobs_time() -> None:
    from imgrag_desktop.gui.index_queue import finished_text
    from imgrag_desktop.gui.workers import IndexJob

    job = IndexJob(roots=["/photos"])
    line = finished_text(job, {"added": 21, "updated": 0, "seconds": 0.5, "wall_seconds": 9.1})
    assert line == "Indexed: 21 new, 0 changed in 9 s"


def test_the_label_keeps_its_width_while_the_text_changes(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    q = w.queue
    q.box.show()
    q.label.setText("Adding pictures 1/9")
    q.box.layout().activate()
    width, x = q.label.width(), q.pause_button.x()
    assert width >= q.label.fontMetrics().horizontalAdvance(WIDEST)
    for text in ("Reading text 1/2", "Looking closer at large images 12000/12000 · about 59 min left"):
        q.label.setText(text)
        q.box.layout().activate()
        assert q.label.width() == width and q.pause_button.x() == x
    q.box.hide()
