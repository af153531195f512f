"""`imgrag eval`: how well search finds what it should, per mode, and how well OCR reads.

Two ways to run it:

* with a query file (JSON list or JSON lines of {"query": ..., "expected": [path or file name,
  ...], "set": optional group name}) against the current index: recall@1, recall@5 and MRR per
  mode and per set;
* without one, the built-in screenshot evaluation: the screenshots (with expected.json, their
  true text) and a folder of photos as distractors are indexed into a temporary data dir with
  this instance's settings, then two query sets are measured: an exact phrase per screenshot,
  picked automatically as the most distinctive run of words of its expected text (a query is
  answered by every screenshot whose text contains the phrase), and 20 hand-written
  paraphrases (package data) that say what a screenshot shows without its words. The OCR
  character error rate against expected.json is reported too.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services

PARAPHRASES = "screenshot_paraphrases.json"
MAX_RANK = 100  # MRR counts a relevant image found within this many results
PHRASE_WORDS = 5


# Metrics -------------------------------------------------------------------------------------
def rank_of(hits: Sequence[str], relevant: set[str]) -> int | None:
    """1-based rank of the first relevant result (None when absent)."""
    for i, h in enumerate(hits, 1):
        if h in relevant:
            return i
    return None


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    if n == 0:
        return {"queries": 0, "recall@1": 0.0, "recall@5": 0.0, "mrr": 0.0}
    return {
        "queries": n,
        "recall@1": round(sum(1 for r in ranks if r is not None and r <= 1) / n, 4),
        "recall@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 4),
        "mrr": round(sum(1.0 / r for r in ranks if r is not None) / n, 4),
    }


def levenshtein(a: str, b: str, free_ends_in_a: bool = False) -> int:
    """Edit distance; with `free_ends_in_a`, the distance from `b` to the best-matching part of
    `a` (text around it in `a` costs nothing)."""
    if not b:
        return 0 if free_ends_in_a else len(a)
    # Rows run over a, columns over b.
    prev = list(range(len(b) + 1))
    best = prev[-1]
    for i, ca in enumerate(a, 1):
        cur = [0 if free_ends_in_a else i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
        best = min(best, cur[-1])
    return best if free_ends_in_a else prev[-1]


def normalize_text(t: str) -> str:
    return " ".join((t or "").split())


def cer(ocr: dict[str, str], expected: dict[str, str]) -> dict[str, Any]:
    """Character error rate (edits / expected characters, whitespace collapsed) over all files,
    and the same where OCR text around the expected text is not counted (screenshots that
    show more than their expected text)."""
    edits = contained = total = 0
    per_file = {}
    for name, exp in sorted(expected.items()):
        e, o = normalize_text(exp), normalize_text(ocr.get(name, ""))
        d = levenshtein(o, e)
        c = levenshtein(o, e, free_ends_in_a=True)
        edits, contained, total = edits + d, contained + c, total + len(e)
        per_file[name] = {"cer": round(d / max(1, len(e)), 4), "cer_contained": round(c / max(1, len(e)), 4)}
    return {"cer": round(edits / max(1, total), 4), "cer_contained": round(contained / max(1, total), 4),
            "characters": total, "files": per_file}


def read_text(ocr_text: str | None, ocr_words: Any) -> str:
    """What was read from the image: the OCR text less the notes describing QR payloads
    (words the app wrote, not read; expected.json holds the payloads themselves)."""
    from imgrag_desktop.search.textmatch import parse_words

    notes = {str(w.get("note")) for w in parse_words(ocr_words) if w.get("note")}
    return "\n".join(line for line in (ocr_text or "").splitlines() if line not in notes)


# Query sets ----------------------------------------------------------------------------------
_WORD = re.compile(r"\S+")


def _norm_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


def distinctive_phrase(text: str, corpus: Sequence[str], words: int = PHRASE_WORDS) -> str:
    """The run of up to `words` consecutive words of `text` whose words are rarest in `corpus`
    (sum of inverse document frequencies; the earliest run wins ties)."""
    toks = _WORD.findall(text or "")
    if len(toks) <= words:
        return " ".join(toks)
    docs = [set(_norm_words(c)) for c in corpus]
    df = Counter(w for d in docs for w in d)
    n = max(1, len(docs))
    idf = [math.log((n + 1) / (df.get(t.lower(), 0) + 0.5)) for t in toks]
    best, best_i = -1.0, 0
    for i in range(0, len(toks) - words + 1):
        s = sum(idf[i:i + words])
        if s > best + 1e-9:
            best, best_i = s, i
    return " ".join(toks[best_i:best_i + words])


def exact_queries(expected: dict[str, str]) -> list[dict[str, Any]]:
    """One phrase per screenshot; every screenshot whose text contains it is a right answer."""
    names = sorted(expected)
    corpus = [expected[n] for n in names]
    flat = {n: " ".join(_norm_words(expected[n])) for n in names}
    out = []
    for n in names:
        phrase = distinctive_phrase(expected[n], corpus)
        if not phrase.strip():
            continue
        key = " ".join(_norm_words(phrase))
        relevant = sorted(m for m in names if key in flat[m])
        out.append({"query": phrase, "expected": relevant, "set": "exact", "source": n})
    return out


def paraphrase_queries() -> list[dict[str, Any]]:
    data = json.loads(resources.files("imgrag_desktop").joinpath("data", PARAPHRASES).read_text("utf-8"))
    return [{"query": q["query"], "expected": [q["file"]], "set": "paraphrase", "source": q["file"]} for q in data]


def load_query_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    p = Path(path).expanduser()
    try:
        raw = p.read_text("utf-8")
    except OSError as exc:
        raise ImgragError(f"cannot read the query file {p}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw) if raw.lstrip().startswith("[") else [json.loads(line) for line in raw.splitlines()
                                                                       if line.strip()]
    except ValueError as exc:
        raise ImgragError(f"the query file {p} is not JSON or JSON lines: {exc}") from exc
    out = []
    for i, q in enumerate(data, 1):
        if not isinstance(q, dict) or not str(q.get("query", "")).strip():
            raise ImgragError(f"query {i} in {p} has no 'query' text")
        exp = q.get("expected")
        exp = [exp] if isinstance(exp, str) else list(exp or [])
        if not exp:
            raise ImgragError(f"query {i} in {p} has no 'expected' images")
        out.append({"query": str(q["query"]), "expected": [str(e) for e in exp], "set": str(q.get("set", "queries"))})
    return out


# Running -------------------------------------------------------------------------------------
def _matches(path: str, expected: Sequence[str]) -> bool:
    return any(path == e or os.path.basename(path) == e or path.endswith(os.sep + e) for e in expected)


def measure(searcher: Any, queries: Sequence[dict[str, Any]], modes: Sequence[str],
            weights: dict[str, float] | None = None) -> dict[str, Any]:
    """recall@1, recall@5 and MRR per set and mode, with each query's rank."""
    sets: dict[str, dict[str, list[int | None]]] = {}
    details = []
    for q in queries:
        row: dict[str, Any] = {"query": q["query"], "set": q["set"], "expected": q["expected"], "ranks": {}}
        for mode in modes:
            hits = searcher.search(q["query"], k=MAX_RANK, mode=mode, weights=weights)
            ranked = [h.path for h in hits]
            r = next((i for i, p in enumerate(ranked, 1) if _matches(p, q["expected"])), None)
            sets.setdefault(q["set"], {}).setdefault(mode, []).append(r)
            row["ranks"][mode] = r
        details.append(row)
    return {"sets": {s: {m: metrics(r) for m, r in by_mode.items()} for s, by_mode in sets.items()},
            "queries": details}


def run_query_file(svc: "Services", path: str, modes: Sequence[str]) -> dict[str, Any]:
    queries = load_query_file(path)
    if svc.store.count() == 0:
        raise ImgragError("the index is empty: index the images first (imgrag index PATH)")
    out = measure(svc.searcher, queries, modes, _weights(svc))
    out["index"] = str(svc.cfg.data_dir)
    return out


def _weights(svc: Any) -> dict[str, float]:
    s = svc.cfg.settings
    return {"visual": s.weight_visual, "textual": s.weight_textual, "keyword": s.weight_keyword}


def _default_dir(arg: str | None, sub: str) -> Path:
    if arg:
        return Path(arg).expanduser().resolve()
    base = os.environ.get("IMGRAG_SHARED_DATA")
    if not base:
        raise ImgragError(f"say where the {sub} folder is (--{'screenshots' if sub == 'screenshots' else 'distractors'} "
                          "DIR) or set IMGRAG_SHARED_DATA")
    return Path(base).expanduser().resolve() / sub


def run_screenshot_eval(services: "Services", screenshots: str | None, distractors: str | None,
                        modes: Sequence[str], on_progress: Callable[[Any], None] | None = None,
                        on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Index into a throw-away data dir with this instance's settings (the later stages as
    `imgrag index` runs them, captions off), then measure. OCR is what is measured: when it
    cannot run, the evaluation fails with its reason rather than reporting a made-up rate."""
    from imgrag_desktop.config import AppConfig, Settings
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.models.ocr import ocr_from_config
    from imgrag_desktop.services import Services

    shots = _default_dir(screenshots, "screenshots")
    exp_file = shots / "expected.json"
    try:
        expected = {e["file"]: e["expected_text"] for e in json.loads(exp_file.read_text("utf-8"))}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImgragError(f"cannot read {exp_file} (a list of {{file, expected_text}}): {exc}") from exc
    extra = _default_dir(distractors, "coco-mini") if distractors or os.environ.get("IMGRAG_SHARED_DATA") else None
    roots = [str(shots)] + ([str(extra)] if extra and extra.is_dir() else [])
    base_cfg = services.cfg
    tmp = Path(tempfile.mkdtemp(prefix="imgrag-eval-"))
    try:
        cfg = AppConfig(data_dir=tmp, profile=base_cfg.profile,
                        settings=Settings.from_dict(base_cfg.settings.to_dict()))
        cfg.settings.folders = []
        cfg.settings.captions_enabled = False  # minutes per image on a CPU; measured separately
        cfg.settings.ocr_enabled = True
        if base_cfg.profile == "test":  # reuse the generated tiny CLIP rather than writing another
            src = base_cfg.models_dir
            if src.is_dir():
                shutil.copytree(src, cfg.models_dir, dirs_exist_ok=True)
        svc = Services(cfg)
        # This evaluation measures OCR: without Tesseract it has nothing to say (Tesseract's own
        # one-line reason), so it stops before indexing anything.
        ocr_from_config(cfg).check()
        cancel = threading.Event()
        t0 = time.perf_counter()
        report = svc.indexer(on_progress=on_progress).index_paths(roots, cancel=cancel)
        later = run_later_stages(svc, cancel, on_progress, on_warning)
        ocr, text = later.get("ocr") or {}, later.get("text") or {}
        if "error" in ocr:  # OCR that started but could not go on
            raise ImgragError(ocr["error"])
        index_s = time.perf_counter() - t0
        rows = svc.store.query(None, ["path", "ocr_text", "ocr_words", "kind"]).to_pylist()
        ocr_by_name = {os.path.basename(r["path"]): read_text(r["ocr_text"], r["ocr_words"]) for r in rows
                       if os.path.dirname(r["path"]) == str(shots)}
        kinds = Counter((("screenshots" if os.path.dirname(r["path"]) == str(shots) else "others"), r["kind"])
                        for r in rows)
        queries = exact_queries(expected) + paraphrase_queries()
        t1 = time.perf_counter()
        out = measure(svc.searcher, queries, modes, _weights(svc))
        out.update({
            "ocr": cer(ocr_by_name, expected),
            "indexed": {"images": svc.store.count(), "screenshots": len(expected), "failed": report.failed,
                        "kinds": {f"{a}/{b}": n for (a, b), n in sorted(kinds.items())},
                        "ocr_failed": ocr.get("failed", 0), "text_vectors": text.get("embedded", 0),
                        "seconds": round(index_s, 1)},
            "search_seconds_per_query": round((time.perf_counter() - t1) / max(1, len(queries) * len(modes)), 4),
            "profile": cfg.profile,
            "weights": _weights(svc),
        })
        svc.reset_models()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report_text(report: dict[str, Any]) -> str:
    lines = []
    if "indexed" in report:
        ix = report["indexed"]
        lines.append(f"indexed {ix['images']} images ({ix['screenshots']} screenshots) in {ix['seconds']} s; "
                     f"kinds: " + ", ".join(f"{k}={v}" for k, v in ix["kinds"].items()))
    for s, by_mode in report["sets"].items():
        n = next(iter(by_mode.values()))["queries"] if by_mode else 0
        lines.append(f"{s} ({n} queries):")
        lines.append(f"  {'mode':<9} {'R@1':>6} {'R@5':>6} {'MRR':>6}")
        for m, v in by_mode.items():
            lines.append(f"  {m:<9} {v['recall@1']:6.3f} {v['recall@5']:6.3f} {v['mrr']:6.3f}")
    if "ocr" in report:
        o = report["ocr"]
        lines.append(f"OCR character error rate: {o['cer']:.4f} ({o['characters']} characters); counting only the "
                     f"expected text where a screenshot shows more: {o['cer_contained']:.4f}")
    missed = [q for q in report.get("queries", []) if any(r is None or r > 1 for m, r in q["ranks"].items()
                                                           if m != "visual")]
    if missed:
        lines.append("queries whose image is not first in some text or hybrid mode (ranks per mode):")
        for q in missed[:40]:
            ranks = ", ".join(f"{m}={r if r is not None else '-'}" for m, r in q["ranks"].items())
            lines.append(f"  [{q['set']}] {q['query'][:60]!r}: {ranks}")
    return "\n".join(lines)
