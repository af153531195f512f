"""The one ordered list of later stages and its runner (indexing/stages.py)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.indexing.stages import STAGES, PassScope, Stage, StageRun, run_later_stages
from imgrag_desktop.types import ImgragError, ModelUnavailable
from tests.conftest import SCREENSHOTS, coco_images
from tests.support.data import fail_without_shared_data


def test_the_list_keeps_the_order_the_stages_depend_on() -> None:
    names = [s.name for s in STAGES]
    # Visual vectors of rows indexed before CLIP arrived come first: tiles and calibration use them.
    assert names == ["visual", "tiles", "fingerprints", "calibration", "places", "metadata", "ocr", "captions",
                     "place words", "meta words", "text", "reembed", "faces"]
    assert [s.name for s in STAGES if s.part == "pass"] == ["visual", "tiles", "fingerprints", "calibration"]


def _recording(log: list[str], name: str, *, fail: bool = False, cancel_after: bool = False,
               part: str = "library") -> Stage:
    def run(r: StageRun) -> dict[str, Any] | None:
        if r.cancel.is_set():
            return None
        log.append(name)
        if cancel_after:
            r.cancel.set()
        if fail:
            raise ModelUnavailable(f"{name} cannot run here")
        return {name: {"done": True}}

    return Stage(name, run, part=part, skipped=name)


def test_runner_runs_in_order_and_merges(services: Any) -> None:
    log: list[str] = []
    stages = [_recording(log, n) for n in ("a", "b", "c")] + [_recording(log, "p", part="pass")]
    out = run_later_stages(services, threading.Event(), stages=stages)
    assert log == ["a", "b", "c"]
    assert list(out) == ["a", "b", "c"]
    assert run_later_stages(services, threading.Event(), part="pass", scope=PassScope(), stages=stages) == \
        {"p": {"done": True}}


def test_a_failing_stage_warns_and_the_others_still_run(services: Any) -> None:
    log: list[str] = []
    warnings: list[str] = []
    stages = [_recording(log, "a"), _recording(log, "b", fail=True), _recording(log, "c")]
    out = run_later_stages(services, threading.Event(), on_warning=warnings.append, stages=stages)
    assert log == ["a", "b", "c"]
    assert warnings == ["b skipped: b cannot run here"]
    assert out["b"] == {"error": "b cannot run here"} and out["c"] == {"done": True}


def test_a_stage_without_a_skip_rule_fails_the_run(services: Any) -> None:
    def boom(r: StageRun) -> None:
        raise ImgragError("disk full")

    with pytest.raises(ImgragError, match="disk full"):
        run_later_stages(services, threading.Event(), stages=[Stage("boom", boom)])


def test_cancel_stops_the_stages_that_follow(services: Any) -> None:
    log: list[str] = []
    stages = [_recording(log, "a", cancel_after=True), _recording(log, "b"), _recording(log, "c")]
    cancel = threading.Event()
    assert run_later_stages(services, cancel, stages=stages) == {"a": {"done": True}}
    assert log == ["a"] and cancel.is_set()
    assert run_later_stages(services, cancel) == {}  # the real list: every library stage honours cancel
    log.clear()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_real_ocr_failure_is_a_warning_and_text_vectors_still_run(tmp_path: Path, services: Any) -> None:
    """OCR made to fail for real (a language Tesseract has no data for): the warning reads as the
    CLI prints it, and the rows waiting for OCR still get a vector of their name."""
    fail_without_shared_data()
    d = tmp_path / "pics"
    d.mkdir()
    for name in ("05_detect_text_with_low_contrast.png", "07_parse_paragraphs_of_text.png"):
        shutil.copy2(SCREENSHOTS / name, d / name)
    services.indexer().index_paths([str(d)])
    services.cfg.settings.ocr_languages = "qqq"
    warnings: list[str] = []
    progress: list[Any] = []
    out = run_later_stages(services, threading.Event(), progress.append, warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith("OCR skipped: Tesseract has no data for language(s) qqq")
    assert out["ocr"] == {"error": warnings[0][len("OCR skipped: "):]}
    assert "captions" not in out  # captions are off by default
    assert out["text"]["embedded"] == 2 and "keyword_index" in out["text"]
    assert any(p.stage == "text vectors" for p in progress)


def test_the_visual_pass_runs_the_pass_part(tmp_path: Path, services: Any) -> None:
    if len(coco_images()) < 4:
        pytest.skip("shared test data not found")
    d = tmp_path / "pics"
    d.mkdir()
    for p in coco_images()[:4]:
        shutil.copy2(p, d / p.name)
    report = services.indexer().index_paths([str(d)])
    extra = report.extra  # type: ignore[attr-defined]
    assert {"tiles", "tiled_images"} <= set(extra)
    (d / coco_images()[0].name).unlink()
    again = services.indexer().index_paths([str(d)])
    assert again.removed == 1 and again.extra["fingerprints_pruned"] >= 0  # type: ignore[attr-defined]


def test_release_clip_frees_the_model_before_the_stages_and_times_their_cpu(services: Any) -> None:
    """A one-shot `imgrag index` drops CLIP's weights before the later stages load theirs
    (issue 19: peak memory); a stage that needs CLIP again gets it back on demand."""
    services.clip.load()
    before = services.clip.encode_texts(["a dog"])
    seen: list[bool] = []

    def look(run: StageRun) -> dict[str, Any]:
        seen.append(run.services.clip.loaded)
        return {"look": run.services.clip.encode_texts(["a dog"]).tolist()}

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    out = run_later_stages(services, threading.Event(), stages=[Stage("look", look)], timings=wall,
                           cpu_timings=cpu, release_clip=True)
    assert seen == [False]  # unloaded when the stage started
    assert services.clip.loaded and abs(float(before[0] @ before[0]) - 1.0) < 1e-3
    assert out["look"][0] == pytest.approx(before[0].tolist(), abs=1e-4)  # reloaded: the same model
    assert set(wall) == set(cpu) == {"look"} and cpu["look"] >= 0
    # Without release_clip (the watcher after each batch) the model stays loaded.
    run_later_stages(services, threading.Event(), stages=[Stage("look", look)])
    assert seen == [False, True]


def test_faces_start_beside_ocr_and_end_in_their_place() -> None:
    by_name = {s.name: s for s in STAGES}
    assert by_name["faces"].beside == "ocr" and [s.name for s in STAGES if s.beside] == ["faces"]


def test_a_stage_beside_another_runs_at_the_same_time_and_is_waited_for(services: Any) -> None:
    both = threading.Event()
    log: list[str] = []
    warnings: list[str] = []

    def first(r: StageRun) -> dict[str, Any]:
        log.append("first")
        assert both.wait(30), "the stage beside did not run meanwhile"  # it sets `both` while this one runs
        return {"first": {"done": True}}

    def beside(r: StageRun) -> dict[str, Any]:
        both.set()
        log.append("beside")
        raise ModelUnavailable("no face models")

    stages = [_recording(log, "a"), Stage("first", first), _recording(log, "between"),
              Stage("late", beside, skipped="late", beside="first")]
    timings: dict[str, float] = {}
    out = run_later_stages(services, threading.Event(), on_warning=warnings.append, stages=stages, timings=timings)
    assert list(out) == ["a", "first", "between", "late"] and out["late"] == {"error": "no face models"}
    assert sorted(log) == ["a", "beside", "between", "first"] and log[0] == "a"
    assert warnings == ["late skipped: no face models"] and set(timings) == {"a", "first", "between", "late"}
    # its companion not in the list: it runs at its own place
    log.clear()
    both.set()
    out = run_later_stages(services, threading.Event(), stages=[_recording(log, "a"), Stage("late", beside, skipped="late", beside="first")])
    assert log == ["a", "beside"]


def test_an_unexpected_error_beside_fails_the_run_after_the_others(services: Any) -> None:
    log: list[str] = []

    def broken(r: StageRun) -> None:
        raise RuntimeError("bug")

    stages = [_recording(log, "a"), _recording(log, "b"), Stage("late", broken, skipped="late", beside="a")]
    with pytest.raises(RuntimeError, match="bug"):
        run_later_stages(services, threading.Event(), stages=stages)
    assert log == ["a", "b"]
