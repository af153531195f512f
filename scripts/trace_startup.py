"""Trace the window's start-up: what the GUI thread is blocked on, and where the engine's time goes.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python scripts/trace_startup.py --out trace.json -- \
        --profile test --data-dir DIR --query "a dog" --quit-after

Runs the real app (gui/app.py main) in this process with:
- a 10 ms QTimer heartbeat on the GUI thread and a watchdog thread that, when a beat is more
  than 50 ms late, records the GUI thread's stack (sys._current_frames()) and every other
  thread's top frames; the watchdog's own lateness says when nobody could take the GIL;
- a timeline of the engine's start (the QueryWorker's warm_up steps, the store, the model load),
  each as seconds since the process started.

A measuring tool for docs/performance.md, not part of the app.
"""

from __future__ import annotations

import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

LATE_S = 0.05
events: list[dict[str, Any]] = []
stalls: list[dict[str, Any]] = []
beat: dict[str, Any] = {"last": 0.0, "on": False, "max_gap": 0.0, "first_result_gap": None}
gaps: list[dict[str, Any]] = []  # every beat more than 100 ms late: when it ended and how long it was
LINGER = {"s": 0.0}
gui_ident = threading.get_ident()


def mark(what: str) -> None:
    events.append({"t": round(time.time() - T0, 3), "what": what, "thread": threading.current_thread().name})


def cpu_s() -> float:
    """CPU seconds of this process so far (all its threads; what a quiet machine's wall time
    would be at most, on one core)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return round(r.ru_utime + r.ru_stime, 3)


def rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None
    return round(kb / 1024, 1)


def _stack(frame: Any, limit: int = 14) -> list[str]:
    return [f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}"
            for f in traceback.extract_stack(frame)[-limit:]]


def watchdog(stop: threading.Event) -> None:
    reported_for = 0.0
    prev = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.005)
        now = time.perf_counter()
        own_late = now - prev - 0.005
        prev = now
        if own_late > LATE_S:  # this thread could not run either: the GIL was held (native code)
            stalls.append({"t": round(time.time() - T0, 3), "kind": "watchdog-late", "ms": round(own_late * 1000, 1)})
        if not beat["on"]:
            continue
        late = now - beat["last"]
        if late > LATE_S and beat["last"] != reported_for:
            reported_for = beat["last"]
            frames = sys._current_frames()
            others = {t.name: _stack(frames[t.ident], 6) for t in threading.enumerate()
                      if t.ident in frames and t.ident not in (gui_ident, threading.get_ident())}
            stalls.append({"t": round(time.time() - T0, 3), "kind": "gui-late", "late_ms": round(late * 1000, 1),
                           "gui": _stack(frames[gui_ident]) if gui_ident in frames else [], "others": others})


def instrument(plain: bool) -> None:
    from imgrag_desktop import quiet_start
    from imgrag_desktop.gui import workers

    orig_import = quiet_start.import_engine

    def import_engine(*args: Any, **kwargs: Any) -> dict[str, float]:
        if plain:  # as before issue 19: the engine's first uses import everything
            return {}
        mark(f"import_engine start {args[0] if args else ''}")
        times = orig_import(*args, **kwargs)
        mark("import_engine end " + " ".join(f"{k}={v:.2f}" for k, v in times.items()))
        return times

    quiet_start.import_engine = import_engine  # type: ignore[assignment]
    from imgrag_desktop.gui.window import MainWindow

    orig_warm = workers.QueryWorker.warm_up

    def warm_up(self: Any) -> None:
        mark("warm_up start")
        instrument_clip()  # here, in the worker thread: the GUI thread must not import numpy for us
        try:
            orig_warm(self)
        finally:
            mark("warm_up end")

    workers.QueryWorker.warm_up = warm_up  # type: ignore[method-assign]

    def traced(cls: Any, name: str, label: Any) -> None:
        orig = getattr(cls, name)

        def run(self: Any, *args: Any) -> Any:
            mark(f"{label(*args)} start")
            try:
                return orig(self, *args)
            finally:
                mark(f"{label(*args)} end")

        setattr(cls, name, run)

    traced(workers.QueryWorker, "_run", lambda req_id, req: f"query {req_id} {getattr(req, 'kind', '')} {getattr(req, 'text', '')!r}")
    traced(workers.IndexWorker, "run", lambda job: f"index job {getattr(job, 'kind', '')}")

    orig_faces = workers.QueryWorker._load_face_models

    def load_face_models(self: Any) -> None:
        mark("face models start")
        try:
            orig_faces(self)
        finally:
            mark("face models end")

    workers.QueryWorker._load_face_models = load_face_models  # type: ignore[method-assign]

    orig_show = MainWindow.showEvent

    def show_event(self: Any, event: Any) -> None:
        orig_show(self, event)
        if beat["on"]:
            return
        from PySide6.QtCore import Qt, QTimer

        mark("window shown")
        beat["cpu_at_shown"] = cpu_s()
        timer = QTimer(self)
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(10)

        def tick() -> None:
            now = time.perf_counter()
            gap = now - beat["last"]
            beat["max_gap"] = max(beat["max_gap"], gap)
            if gap > 0.1:
                gaps.append({"t": round(time.time() - T0, 3), "ms": round(gap * 1000, 1)})
            if beat["first_result_gap"] is not None:  # after the first result (the face models' load)
                beat["max_after"] = max(beat.get("max_after", 0.0), gap)
            beat["last"] = now

        timer.timeout.connect(tick)
        beat["last"] = time.perf_counter()
        beat["on"] = True
        timer.start()
        def ready(info: dict[str, Any]) -> None:
            mark(f"engine ready {sorted(info)}")
            beat.setdefault("cpu_at_ready", cpu_s())
            beat.setdefault("rss_mb_at_ready", rss_mb())

        self.engineReady.connect(ready)
        def results(info: dict[str, Any]) -> None:
            mark(f"results shown {info.get('kind')} {info.get('count')}")
            if info.get("kind") != "browse" and beat["first_result_gap"] is None:
                beat["cpu_at_first_result"] = cpu_s()
                beat["first_result_gap"] = beat["max_gap"]  # the longest stall from launch to the first result
                if LINGER["s"]:
                    QTimer.singleShot(int(LINGER["s"] * 1000), self.close)

        self.resultsShown.connect(results)

    MainWindow.showEvent = show_event  # type: ignore[method-assign]



def instrument_clip() -> None:
    import imgrag_desktop.models.clip as clip

    name = "load_for_queries" if hasattr(clip.ClipEncoder, "load_for_queries") else "load"  # older trees: load
    orig_load = getattr(clip.ClipEncoder, name)
    if getattr(orig_load, "traced", False):
        return

    def load(self: Any) -> Any:
        mark("clip.load start")
        try:
            return orig_load(self)
        finally:
            mark("clip.load end")

    load.traced = True  # type: ignore[attr-defined]
    setattr(clip.ClipEncoder, name, load)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--plain", action="store_true", help="without quiet_start (the start-up before issue 19)")
    p.add_argument("--linger", type=float, default=0.0,
                   help="close the window this many seconds after the first result (use without --quit-after)")
    p.add_argument("app_args", nargs=argparse.REMAINDER)
    a = p.parse_args()
    args = [x for x in a.app_args if x != "--"]
    LINGER["s"] = a.linger
    stop = threading.Event()
    threading.Thread(target=watchdog, args=(stop,), name="stall-watchdog", daemon=True).start()
    import imgrag_desktop.gui.app as app

    app.STARTED_AT = T0
    mark("app imported")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([sys.argv[0]])
    instrument(a.plain)
    mark("instrumented")
    from imgrag_desktop.__main__ import serve_warm  # as `imgrag-desktop` starts it: with the warm socket

    rc = app.main(args, serve_warm=serve_warm)
    stop.set()
    mark("exit")
    first = beat["first_result_gap"]
    out = {"rc": rc, "plain": a.plain, "max_gui_gap_ms": round(beat["max_gap"] * 1000, 1),
           "max_gap_to_first_result_ms": round(first * 1000, 1) if first is not None else None,
           "max_gap_after_first_result_ms": round(beat.get("max_after", 0.0) * 1000, 1),
           "cpu_at_shown": beat.get("cpu_at_shown"), "cpu_at_ready": beat.get("cpu_at_ready"),
           "rss_mb_at_ready": beat.get("rss_mb_at_ready"), "cpu_at_first_result": beat.get("cpu_at_first_result"),
           "modules_at_exit": {m: m in sys.modules for m in ("torch", "open_clip", "sentence_transformers",
                                                              "onnxruntime", "lancedb")},
           "gaps_over_100ms": gaps, "events": events, "stalls": stalls}
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({"plain": a.plain, "max_gui_gap_ms": out["max_gui_gap_ms"],
                      "max_gap_to_first_result_ms": out["max_gap_to_first_result_ms"],
                      "max_gap_after_first_result_ms": out["max_gap_after_first_result_ms"],
                      "cpu_at_ready": out["cpu_at_ready"], "cpu_at_first_result": out["cpu_at_first_result"],
                      "modules_at_exit": out["modules_at_exit"],
                      "gaps_over_100ms": [f"{g['t']:.2f}s:{g['ms']:.0f}ms" for g in gaps],
                      "events": [f"{e['t']:7.3f} {e['what']}" for e in events]}, indent=1))
    return int(rc)


if __name__ == "__main__":
    raise SystemExit(main())
