"""The status bar words indexing as a user would (gui/job_progress.py): steps by name, time
left at the step's own pace, the job's true duration; and the label keeps its width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


def test_the_job_bar_moves_forward_across_steps() -> None:
    from imgrag_desktop.gui.job_progress import JobBar

    now = [0.0]
    bar = JobBar(lambda: now[0])
    shares = []
    for p in (Progress("load"), Progress("scan"), Progress("index", 0, 10), Progress("index", 5, 10),
              Progress("index", 10, 10), Progress("fingerprints", 0, 10), Progress("done", 10, 10),
              Progress("ocr", 0, 10), Progress("ocr", 5, 10), Progress("text vectors", 0, 10),
              Progress("new step", 1, 2), Progress("index", 1, 10)):  # out of order: the bar stays
        now[0] += 1.0
        shares.append(bar.update(p))
    assert shares == sorted(shares) and 0.0 <= shares[0] < 0.05 and shares[-1] < 1.0
    assert shares[3] < shares[4] < shares[7] < shares[8]  # each step's own progress moves it
    ocr_half = shares[8]
    assert 0.3 < ocr_half < 0.8  # half of the slow OCR step is a large part of this job
    assert bar.left() == pytest.approx(now[0] * (1 - bar.share) / bar.share)
    assert bar.text() == f"{int(bar.share * 100)}%"
    assert JobBar(lambda: 0.0).left() is None  # no pace yet: no time left said
    # The label says the whole job's time left, not the step's.
    clock = JobClock(lambda: now[0])
    clock.line(Progress("faces", 0, 10))
    now[0] += 4.0
    line = clock.line(Progress("faces", 5, 10), bar)
    assert line == f"Finding faces 5/10 · about {duration(bar.left() or 0)} left"
    assert line != clock.line(Progress("faces", 5, 10))  # the step alone would say 4 s


def test_the_status_bar_shows_one_bar_for_the_whole_job(qtbot: Any, make_window: Any, tmp_path: Path,
                                                        coco_jpegs: list[Path]) -> None:
    from tests.gui.conftest import copy_images
    from tests.gui.test_indexing import fresh_data

    photos = copy_images(coco_jpegs[:12], tmp_path / "photos")
    w = make_window(fresh_data(tmp_path, batch_size=4))
    values: list[int] = []
    stages: list[str] = []
    w.progress_bar.valueChanged.connect(values.append)
    texts: list[str] = []
    w.progress_bar.valueChanged.connect(lambda _: texts.append(w.progress_bar.text()))
    w.indexProgress.connect(lambda p: stages.append(p.stage))
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(photos)])
        assert w.progress_bar.maximum() == 1000 and w.progress_bar.value() == 0
    later = set(stages[stages.index("done") + 1:])
    assert "index" in stages and later, stages  # the job had steps after the visual pass
    assert values and values == sorted(values), values  # never reset to 0 when a step changes
    assert values[-1] >= 900  # most of the bar is filled by the end of the job's last step
    assert all(t.endswith("%") and t[:-1].isdigit() for t in texts), texts


def test_faces_beside_ocr_move_the_bar_by_their_own_share_and_keep_their_pace() -> None:
    from imgrag_desktop.gui.job_progress import JobBar

    now = [0.0]
    bar, clock = JobBar(lambda: now[0]), JobClock(lambda: now[0])
    bar.update(Progress("done", 10, 10))
    seen = []
    for p in (Progress("ocr", 0, 10), Progress("faces", 0, 10), Progress("ocr", 2, 10), Progress("faces", 9, 10),
              Progress("ocr", 4, 10), Progress("faces", 10, 10)):
        now[0] += 1.0
        seen.append((bar.update(p), clock.line(p)))
    shares = [sh for sh, _ in seen]
    assert shares == sorted(shares) and shares[-1] < 0.8  # faces done, OCR not: the bar is not at its end
    assert shares[3] - shares[2] < 0.2  # nine tenths of faces is their own cost, not every step before them
    # each step keeps its own pace while the two interleave
    assert seen[4][1] == "Reading text 4/10 · about 6 s left" and seen[3][1].startswith("Finding faces 9/10 · about")
