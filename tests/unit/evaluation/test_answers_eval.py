"""`imgrag eval --answers`: the question set, the marks, and one real run through the CLI
(real OCR, real LanceDB, the tiny random vision model: plumbing, not quality)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from imgrag_desktop.evaluation import answers
from tests.conftest import SCREENSHOTS, run_cli
from tests.support.data import SHARED_DATA


def test_the_built_in_question_set_is_sound():
    qs = answers.load_questions()
    assert len(qs) >= 40 and len({q["id"] for q in qs}) == len(qs)
    none = [q for q in qs if q["set"] == answers.NO_ANSWER_SET]
    assert len(none) >= 5 and all(not q["expected"] and not q["files"] for q in none)
    receipts = json.loads((SHARED_DATA / "receipts" / "expected.json").read_text("utf-8"))["lines"]
    shots = {e["file"]: e["expected_text"] for e in json.loads((SCREENSHOTS / "expected.json").read_text("utf-8"))}
    truth = {**{k: "\n".join(v) for k, v in receipts.items()}, **shots}
    for q in qs:
        if q["set"] == answers.NO_ANSWER_SET:
            continue
        # Every expected value is in the true text of one of the question's files.
        assert q["files"] and any(answers.holds(truth[f], q["expected"]) for f in q["files"]), q["id"]


def test_marks():
    q = {"id": "1", "set": "receipts", "question": "total?", "expected": ["41.50"], "files": ["145.jpg"]}
    data = {"status": "extracted", "answer": "41,50 (read from the text of 145.jpg)", "model_answer": "$1.00",
            "sources": [{"path": "/x/145.jpg"}], "evidence": [{"text": "Cash 50.00"}, {"text": "Change 41,50"}]}
    row = answers.score_answer(q, data)
    assert row["correct"] and row["supported"] and row["evidence_top3"] and row["retrieved"]
    assert not row["model_correct"] and not row["wrong_shown"]
    assert not answers.score_answer(q, {**data, "status": "unknown"})["correct"]  # "don't know" is never right
    n = answers.score_answer({**q, "set": "none", "expected": [], "files": []}, {**data, "status": "unknown"})
    assert n["dont_know"] and "correct" not in n
    s = answers.summarise([row, n])
    assert s["correct"] == 1.0 and s["dont_know_on_no_answer"] == 1.0 and s["no_answer"] == 1


def test_eval_answers_runs_through_the_cli(tmp_path: Path):
    rec, shots = tmp_path / "receipts", tmp_path / "screenshots"
    rec.mkdir()
    shots.mkdir()
    for name in ("060.jpg", "145.jpg"):
        shutil.copy2(SHARED_DATA / "receipts" / name, rec / name)
    for name in ("03_parse_emails.png", "18_qrcode_phone_number.png"):
        shutil.copy2(SCREENSHOTS / name, shots / name)
    qfile = tmp_path / "q.json"
    qfile.write_text(json.dumps([
        {"id": "a", "set": "receipts", "question": "How much change was given at McDonald's?",
         "expected": ["41.50"], "files": ["145.jpg"]},
        {"id": "b", "set": "screenshots", "question": "What is Peter Parker's e-mail address?",
         "expected": ["peter.parker@test.com"], "files": ["03_parse_emails.png"]},
        {"id": "c", "set": "none", "question": "What is the tracking number of my DHL parcel?", "expected": []},
    ]))
    keep = tmp_path / "idx"
    out = json.loads(run_cli("eval", "--answers", str(qfile), "--receipts", str(rec), "--screenshots", str(shots),
                             "--index-dir", str(keep), "--images", "2", "--quiet", "--json",
                             data_dir=tmp_path / "home").stdout)
    assert out["images"] == 4 and out["summary"]["questions"] == 3 and out["index_dir"] == str(keep.resolve())
    rows = {r["id"]: r for r in out["questions"]}
    assert rows["a"]["retrieved"] and rows["b"]["retrieved"]
    assert rows["b"]["evidence_top3"] and rows["b"]["correct"]  # the address is read from the evidence
    assert rows["c"]["dont_know"] and rows["c"]["status"] == "unknown"
    assert out["seconds_per_answer"] > 0 and out["summary"]["wrong_shown"] <= 0.5
    # A second run reuses the kept index (no indexing).
    again = json.loads(run_cli("eval", "--answers", str(qfile), "--receipts", str(rec), "--screenshots", str(shots),
                               "--index-dir", str(keep), "--images", "2", "--limit", "1", "--quiet", "--json",
                               data_dir=tmp_path / "home").stdout)
    assert again["index_seconds"] == 0.0 and again["summary"]["questions"] == 1
