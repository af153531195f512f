"""`imgrag eval --answers`: how right, how checkable and how honest the answers to questions are.

The question set (package data `answer_questions.json`, or a file of the same shape: a list of
{id, set, question, expected: [values], files: [names], kind}) was written from the shared
receipts' and screenshots' true text before anything was run; questions of the set "none" have
no answer in the library. The two folders are indexed into a data dir (a throw-away one, or
`--index-dir` to keep it for the next run) with this instance's settings, OCR on and captions
off, and every question is asked through the same Answerer as `imgrag ask`. Per question:

* correct: an expected value is in the answer shown (an "I don't know" is never correct);
* supported: the answer shown is backed by an evidence line (the model's own, or extracted);
* evidence@3: an expected value is in one of the three best evidence lines;
* retrieved: an image holding the answer is among the images the model was given;
* dont_know: on the "none" questions, the reply says it does not know;
* the model's raw answer, to see what the check changed, and seconds per answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services

QUESTIONS = "answer_questions.json"
NO_ANSWER_SET = "none"


def load_questions(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    try:
        raw = (Path(path).expanduser().read_text("utf-8") if path else
               resources.files("imgrag_desktop").joinpath("data", QUESTIONS).read_text("utf-8"))
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ImgragError(f"cannot read the question file {path or QUESTIONS}: {exc}") from exc
    if not isinstance(data, list):
        raise ImgragError(f"the question file {path or QUESTIONS} must be a JSON list of questions")
    out = []
    for i, q in enumerate(data, 1):
        if not isinstance(q, dict) or not str(q.get("question", "")).strip():
            raise ImgragError(f"question {i} in {path or QUESTIONS} has no 'question' text")
        out.append({"id": str(q.get("id") or i), "set": str(q.get("set") or "questions"),
                    "question": str(q["question"]), "expected": [str(e) for e in q.get("expected") or []],
                    "files": [str(f) for f in q.get("files") or []], "kind": str(q.get("kind") or "")})
    return out


def _norm(s: str) -> str:
    # A decimal comma is the same amount: OCR and models write 41,50 for 41.50.
    return re.sub(r"(\d),(\d{2})(?!\d)", r"\1.\2", " ".join((s or "").lower().split()))


def holds(text: str, expected: Sequence[str]) -> bool:
    """Whether a text holds one of the expected values (case and spacing aside)."""
    t = _norm(text)
    squeezed = re.sub(r"\s", "", t)
    return any(_norm(e) in t or re.sub(r"\s", "", _norm(e)) in squeezed for e in expected if e.strip())


def score_answer(q: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """One question's marks from `answer_to_json`'s output."""
    status = data.get("status", "")
    shown = status in ("supported", "extracted")
    names = [os.path.basename(s["path"]) for s in data.get("sources", [])]
    row = {"id": q["id"], "set": q["set"], "question": q["question"], "status": status,
           "answer": data.get("answer", "")[:200], "model_answer": (data.get("model_answer") or "")[:200],
           "top_evidence": [e["text"][:120] for e in data.get("evidence", [])[:3]]}
    if q["set"] == NO_ANSWER_SET or not q["expected"]:
        row["dont_know"] = status == "unknown"
        return row
    row.update({
        "correct": shown and holds(data.get("answer", ""), q["expected"]),
        "supported": shown,
        "evidence_top3": any(holds(e["text"], q["expected"]) for e in data.get("evidence", [])[:3]),
        "retrieved": any(n in q["files"] for n in names) if q["files"] else None,
        "model_correct": holds(data.get("model_answer") or "", q["expected"]),
        "wrong_shown": shown and not holds(data.get("answer", ""), q["expected"]),
    })
    return row


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if "correct" in r]
    none = [r for r in rows if "dont_know" in r]

    def share(key: str, items: Sequence[dict[str, Any]]) -> float:
        vals = [bool(r[key]) for r in items if r.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else 0.0

    return {
        "questions": len(rows), "answerable": len(answerable), "no_answer": len(none),
        "correct": share("correct", answerable), "supported": share("supported", answerable),
        "evidence_top3": share("evidence_top3", answerable), "retrieved": share("retrieved", answerable),
        "model_correct": share("model_correct", answerable), "wrong_shown": share("wrong_shown", answerable),
        "dont_know_on_no_answer": share("dont_know", none),
        "in_ocr": share("in_ocr", answerable),
        "evidence_top3_when_read": share("evidence_top3", [r for r in answerable if r.get("in_ocr")]),
        "correct_when_read": share("correct", [r for r in answerable if r.get("in_ocr")]),
        "answered_on_no_answer": round(sum(1 for r in none if not r["dont_know"]) / len(none), 4) if none else 0.0,
    }


def _dir(arg: str | None, sub: str) -> Path:
    if arg:
        return Path(arg).expanduser().resolve()
    base = os.environ.get("IMGRAG_SHARED_DATA")
    if not base:
        raise ImgragError(f"say where the {sub} folder is (--{sub} DIR) or set IMGRAG_SHARED_DATA")
    return Path(base).expanduser().resolve() / sub


def run_answer_eval(services: "Services", *, questions: str | None = None, receipts: str | None = None,
                    screenshots: str | None = None, index_dir: str | None = None, model: str | None = None,
                    images: int = 4, max_tokens: int = 48, limit: int | None = None,
                    on_progress: Callable[[Any], None] | None = None,
                    on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Index the folders (or reuse `index_dir`), ask every question, mark the answers."""
    from imgrag_desktop.answer import answer_to_json
    from imgrag_desktop.config import AppConfig, Settings
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.models.ocr import ocr_from_config
    from imgrag_desktop.services import Services

    qs = load_questions(questions)[: limit or None]
    roots = [str(_dir(receipts, "receipts")), str(_dir(screenshots, "screenshots"))]
    for r in roots:
        if not os.path.isdir(r):
            raise ImgragError(f"{r} is not a folder")
    base = services.cfg
    keep = index_dir is not None
    data_dir = Path(index_dir or tempfile.mkdtemp(prefix="imgrag-ask-eval-")).expanduser().resolve()
    try:
        cfg = AppConfig(data_dir=data_dir, profile=base.profile, settings=Settings.from_dict(base.settings.to_dict()))
        cfg.settings.folders = []
        cfg.settings.captions_enabled = False  # minutes per image on a CPU; not what is measured
        cfg.settings.ocr_enabled = True
        cfg.settings.ocr_photos = True  # receipts scanned as photos hold the answers too
        if model:
            m = Path(model).expanduser().resolve()
            if not m.is_file():
                raise ImgragError(f"--model {model}: no such file")
            cfg.settings.vlm_model, cfg.settings.vlm_mmproj = str(m), ""
        if base.profile == "test" and base.models_dir.is_dir() and base.models_dir != cfg.models_dir:
            shutil.copytree(base.models_dir, cfg.models_dir, dirs_exist_ok=True)
        svc = Services(cfg)
        index_s = 0.0
        if svc.store.count() == 0:
            ocr_from_config(cfg).check()  # the answers are read from OCR text: without it, stop now
            t0 = time.perf_counter()
            svc.indexer(on_progress=on_progress).index_paths(roots, cancel=threading.Event())
            later = run_later_stages(svc, threading.Event(), on_progress, on_warning)
            if "error" in (later.get("ocr") or {}):
                raise ImgragError(later["ocr"]["error"])
            index_s = time.perf_counter() - t0
        texts = {os.path.basename(r["path"]): r.get("ocr_text") or "" for r in
                 svc.store.query(None, ["path", "ocr_text"]).to_pylist()}
        answerer = svc.answerer(images=images, max_tokens=max_tokens)
        rows: list[dict[str, Any]] = []
        seconds: list[float] = []
        try:
            for q in qs:
                t1 = time.perf_counter()
                stream = answerer.stream(q["question"])
                answer = stream.result()
                seconds.append(time.perf_counter() - t1)
                row = score_answer(q, answer_to_json(answer, stream))
                row["seconds"] = round(seconds[-1], 3)
                if "correct" in row:  # whether the OCR read the answer at all (else no evidence can hold it)
                    row["in_ocr"] = any(holds(texts.get(f, ""), q["expected"]) for f in q["files"])
                rows.append(row)
            model_name = answerer.model().spec.display_name
        finally:
            svc.vlm.unload()
            svc.reset_models()
        out = {"model": model_name, "profile": cfg.profile, "images_per_question": images,
               "summary": summarise(rows),
               "sets": {s: summarise([r for r in rows if r["set"] == s]) for s in sorted({r["set"] for r in rows})},
               "seconds_per_answer": round(sum(seconds) / max(1, len(seconds)), 3),
               "index_seconds": round(index_s, 1), "images": svc.store.count(), "questions": rows}
        if keep:
            out["index_dir"] = str(data_dir)
        return out
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def report_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [f"{report['model']}: {s['questions']} questions ({s['answerable']} with an answer in the library, "
             f"{s['no_answer']} without) over {report['images']} images; {report['seconds_per_answer']} s per answer",
             f"  correct {s['correct']:.3f}  supported {s['supported']:.3f}  evidence top-3 {s['evidence_top3']:.3f}  "
             f"retrieved {s['retrieved']:.3f}  wrong answer shown {s['wrong_shown']:.3f}",
             f"  model's own answer correct {s['model_correct']:.3f}; \"don't know\" on the questions without an "
             f"answer {s['dont_know_on_no_answer']:.3f}",
             f"  the OCR read the answer for {s['in_ocr']:.3f} of the questions; on those: correct "
             f"{s['correct_when_read']:.3f}, evidence top-3 {s['evidence_top3_when_read']:.3f}"]
    for r in report["questions"]:
        mark = ("ok" if r.get("correct") else "--") if "correct" in r else ("ok" if r.get("dont_know") else "--")
        lines.append(f"  {mark} [{r['status']:9}] {r['question'][:64]!r} -> {r['answer'][:70]!r}")
    return "\n".join(lines)
