"""The window's indexing queue: IndexJobs run one at a time on the index worker's thread, with
the status bar's progress, Pause and Cancel.

Jobs queue rather than overlap because only one writer may change the index at a time (the
worker holds the writer lock for a whole job); the window decides what a finished job means
for what it shows.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from imgrag_desktop.gui.job_progress import WIDEST, JobBar, JobClock, duration, step_words
from imgrag_desktop.gui.workers import EngineHost, IndexJob, IndexWorker
from imgrag_desktop.store.writers import DataDirWriter

BAR_STEPS = 1000
REEMBED_WIDEST = "Updating visual search for the new model: 888,888 / 888,888"


def stage_label(p: Any) -> str:
    """A later stage's progress in a user's words ("Reading text 3/10"; a CLIP switch says what
    it is for). The Cancel button next to it stops the stage; what is done is kept and the next
    run resumes."""
    if p.stage == "reembed":
        return (f"Updating visual search for the new model: {p.done:,} / {p.total:,}" if p.total
                else "Updating visual search for the new model…")
    return f"{step_words(p.stage)} {p.done}/{p.total}" if p.total else f"{step_words(p.stage)}…"


class IndexQueue(QObject):
    started = Signal(object)  # the IndexJob that began
    progress = Signal(object)  # types.Progress, as the worker reports it
    rowsArriving = Signal()  # the visual pass wrote rows: new images can be shown
    finished = Signal(object, object)  # IndexJob, report dict
    failed = Signal(object, str, str, bool)  # IndexJob, one line, details, a rebuild would fix it
    busyChanged = Signal(bool)  # a job runs or waits (the folder list greys its buttons)
    pausedChanged = Signal(bool)
    runRequested = Signal(object)  # to the worker, queued

    def __init__(self, host: EngineHost, writes: DataDirWriter, parent: QWidget) -> None:
        super().__init__(parent)
        self.jobs: list[IndexJob] = []
        self.job: IndexJob | None = None
        self.paused = False
        self.closing = False
        self._build_widgets(parent)
        self.index_thread = QThread(self)
        self.index_thread.setObjectName("imgrag-index")
        self.worker = IndexWorker(host, writes=writes)
        self.worker.moveToThread(self.index_thread)
        self.index_thread.finished.connect(self.worker.deleteLater)
        self.runRequested.connect(self.worker.run)
        self.worker.started.connect(self.started)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.index_thread.start()

    def _build_widgets(self, parent: QWidget) -> None:
        self.box = QWidget(parent)
        pl = QHBoxLayout(self.box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(6)
        self.label = QLabel(self.box)
        fm = self.label.fontMetrics()  # a fixed width, so the buttons beside it stay put
        self.label.setFixedWidth(max(fm.horizontalAdvance(t) for t in (WIDEST, REEMBED_WIDEST)) + 8)
        self.clock = JobClock()
        self.job_bar = JobBar()
        self.current = QLabel(self.box)
        self.current.setMinimumWidth(80)
        self.current.setMaximumWidth(300)
        self.bar = QProgressBar(self.box)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(True)
        self.bar.setRange(0, BAR_STEPS)  # the whole job, every step: it only moves forward
        self.pause_button = QToolButton(self.box)
        self.pause_button.setText("Pause")
        self.pause_button.setToolTip("Pause indexing (searching keeps working)")
        self.cancel_button = QToolButton(self.box)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop indexing; what is done so far stays in the index")
        for w in (self.label, self.current, self.bar, self.pause_button, self.cancel_button):
            pl.addWidget(w)
        self.box.hide()

    @property
    def indexing(self) -> bool:
        return self.job is not None or bool(self.jobs)

    def enqueue(self, job: IndexJob) -> None:
        self.jobs.append(job)
        self._next()

    def _next(self) -> None:
        if self.job is not None or not self.jobs or self.closing:
            return
        self.job = self.jobs.pop(0)
        self.clock = JobClock()
        self.job_bar = JobBar()
        self.paused = False
        self.worker.set_paused(False)
        self.pause_button.setText("Pause")
        self.label.setText("Removing…" if self.job.remove else "Preparing…")
        self.current.setText("")
        self._show_share()
        self.box.show()
        self.busyChanged.emit(True)
        self.runRequested.emit(self.job)

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        self.paused = not self.paused
        self.worker.set_paused(self.paused)
        self.pause_button.setText("Resume" if self.paused else "Pause")
        if self.paused:
            self.label.setText("Paused")
        self.pausedChanged.emit(self.paused)

    def cancel(self) -> None:
        """Stop the running job and drop those queued (what is done so far stays indexed)."""
        for job in [self.job, *self.jobs]:
            if job is not None:
                job.cancel.set()
                job.stop_stages.set()
        self.jobs.clear()
        self.worker.set_paused(False)
        self.paused = False
        self.pause_button.setText("Pause")
        self.pausedChanged.emit(False)
        if self.job is not None:
            self.label.setText("Cancelling…")

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        self.progress.emit(p)
        if self.job is None or self.job.cancel.is_set():
            return
        stage = p.stage
        self.job_bar.update(p)
        self._show_share()
        if stage == "scan":
            self.label.setText("Looking for images…")
            self.current.setText(elide_path(p.current, 40))
        elif stage == "load":
            self.label.setText("Loading the image model…")
        elif stage == "index":
            line = self.clock.line(p, self.job_bar)
            if not self.paused:
                self.label.setText(line)
            self.current.setText(elide_path(os.path.basename(p.current), 32))
            self.current.setToolTip(p.current)
            self.rowsArriving.emit()
        elif stage in ("optimize", "done"):
            self.label.setText("Compacting the index…" if stage == "optimize" else "Finishing…")
        else:  # later stages (OCR, faces, text vectors, captions, a new CLIP model's vectors) in a user's words
            line = stage_label(p) if stage == "reembed" else self.clock.line(p, self.job_bar)
            if not self.paused:
                self.label.setText(line)
            self.current.setText(elide_path(p.current, 40))

    def _show_share(self) -> None:
        """The bar: the whole job's share done and its time left (job_progress.JobBar)."""
        self.bar.setValue(round(self.job_bar.share * BAR_STEPS))
        self.bar.setFormat(self.job_bar.text())
        left = self.job_bar.left()
        self.bar.setToolTip("The whole job, every step" + (f": about {duration(left)} left" if left else ""))

    @Slot(object, object)
    def _on_finished(self, job: IndexJob, report: dict[str, Any]) -> None:
        report = {**report, "wall_seconds": self.clock.elapsed()}  # the whole job, later steps included
        self.job = None
        self.finished.emit(job, report)

    @Slot(object, str, str, bool)
    def _on_failed(self, job: IndexJob, text: str, details: str, rebuild: bool) -> None:
        self.job = None
        self.failed.emit(job, text, details, rebuild)

    def after_job(self) -> None:
        """A job ended and the window has shown what it did: on to the next one."""
        if not self.jobs:
            self.box.hide()
            self.busyChanged.emit(False)
        if self.paused:
            self.paused = False
            self.pausedChanged.emit(False)
        self._next()

    def shutdown(self) -> None:
        """Cancel what runs and is queued; the thread ends after the job's current batch."""
        self.closing = True
        self.cancel()
        self.index_thread.quit()


def finished_text(job: IndexJob, report: dict[str, Any]) -> str:
    """The status bar's one line about a finished job."""
    if job.remove:
        return f"Removed {job.remove} from the index ({report.get('removed', 0)} images)"
    parts = [f"{report.get('added', 0)} new", f"{report.get('updated', 0)} changed"]
    if report.get("removed"):
        parts.append(f"{report['removed']} removed")
    if report.get("failed"):
        parts.append(f"{report['failed']} skipped")
    verb = "Indexing cancelled" if report.get("cancelled") else "Indexed"
    return f"{verb}: {', '.join(parts)} in {duration(report.get('wall_seconds', report.get('seconds', 0)))}"


def elide_path(path: str, n: int) -> str:
    if len(path) <= n:
        return path
    name = os.path.basename(path)
    return ("…" + path[-(n - 1):]) if len(name) >= n - 1 else ("…/" + name if len(name) + 2 <= n else name[: n - 1] + "…")
