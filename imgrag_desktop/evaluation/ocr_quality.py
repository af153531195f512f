"""How well each OCR engine reads: character error rate, word recall and seconds per image on
the shared screenshots and receipts and the generated hard cases (`ocr_cases.py`), and the
text detector's cost on photos without text (the figures in docs/performance.md).

Reading here calls the engines directly (the same `read_file` the OCR stage runs), so the
numbers are the engine's, not the index's; phrase recall through search is measured by
`phrase_recall` on an index built with the real `imgrag index`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from typing import Any, Callable, Iterable

from imgrag_desktop.evaluation import levenshtein, normalize_text

_WORD = re.compile(r"[0-9A-Za-zÀ-ÿ]+")


def words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


def word_recall(read: str, truth: str) -> float:
    """Share of the truth's words (with repeats) that the reading has."""
    want = Counter(words_of(truth))
    have = Counter(words_of(read))
    total = sum(want.values())
    return sum(min(n, have[w]) for w, n in want.items()) / total if total else 1.0


def char_errors(read: str, truth: str) -> tuple[int, int]:
    """(edits, characters of the truth), whitespace collapsed, case kept."""
    e, o = normalize_text(truth), normalize_text(read)
    return levenshtein(o, e), len(e)


def load_set(name: str, folder: str, limit: int | None = None) -> list[tuple[str, str]]:
    """[(image path, truth text)] of a folder with an expected.json: the screenshots' and the
    generated cases' list of {file, expected_text}, or the receipts' {lines: {file: [...]}}."""
    with open(os.path.join(folder, "expected.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, dict) and "lines" in data:
        items = [(f, "\n".join(lines)) for f, lines in sorted(data["lines"].items())]
    else:
        items = [(d["file"], d["expected_text"]) for d in data]
    out = [(os.path.join(folder, f), t) for f, t in items if os.path.exists(os.path.join(folder, f))]
    return out[:limit] if limit else out


def measure(read: Callable[[str], Any], cases: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """CER, word recall and seconds per image of one engine's `read(path) -> OcrResult`."""
    from imgrag_desktop.evaluation import read_text

    edits = chars = 0
    recalls: list[float] = []
    seconds: list[float] = []
    per_file: dict[str, Any] = {}
    failed = 0
    for path, truth in cases:
        t0 = time.perf_counter()
        try:
            res = read(path)
            text = read_text(res.text, res.words)
        except Exception as exc:  # noqa: BLE001 - a failure counts as reading nothing
            failed += 1
            text = ""
            per_file[os.path.basename(path)] = {"error": str(exc)[:200]}
        seconds.append(time.perf_counter() - t0)
        e, n = char_errors(text, truth)
        r = word_recall(text, truth)
        edits, chars = edits + e, chars + n
        recalls.append(r)
        per_file.setdefault(os.path.basename(path), {}).update({"cer": round(e / max(1, n), 4), "recall": round(r, 4)})
    n = max(1, len(recalls))
    return {"images": len(recalls), "failed": failed, "cer": round(edits / max(1, chars), 4),
            "word_recall": round(sum(recalls) / n, 4), "seconds_per_image": round(sum(seconds) / n, 3),
            "files": per_file}


def detector_cost(paths: Iterable[str]) -> dict[str, Any]:
    """Milliseconds per image of the text detector alone (decoded as the OCR stage decodes; the
    decoding is not counted), and how many images it found text in."""
    from imgrag_desktop import imaging
    from imgrag_desktop.models.ocr import OCR_MAX_SIDE, text_detector

    det = text_detector()
    times, cpu, found = [], [], 0
    paths = list(paths)
    if paths:  # load the model outside the timing
        det.boxes(imaging.decode_path(paths[0], max_side=OCR_MAX_SIDE)[0].image)
    for p in paths:
        dec, _ = imaging.decode_path(p, max_side=OCR_MAX_SIDE)
        t0, c0 = time.perf_counter(), time.process_time()
        n = det.boxes(dec.image)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        found += n > 0
    times.sort()
    return {"images": len(times), "with_text": found,
            "ms_per_image": round(1000 * sum(times) / max(1, len(times)), 1),
            # CPU time (one onnxruntime thread): what the detector costs, less the machine's other load
            "cpu_ms_per_image": round(1000 * sum(cpu) / max(1, len(cpu)), 1),
            "ms_median": round(1000 * times[len(times) // 2], 1) if times else 0.0}


def phrases(truth: str, n: int = 4, per_image: int = 2, shared: Callable[[str], bool] | None = None) -> list[str]:
    """Up to `per_image` phrases of `n` consecutive words from the truth (words with a letter or digit),
    spread over the text (first and last with two). With `shared`, a phrase it says other
    images hold too ("thank you please come again" on every receipt of a shop) does not name
    this image: the nearest phrase that does is taken instead, or none."""
    lines = [ln.split() for ln in truth.splitlines() if ln.strip()]
    ws = [w for ln in lines for w in ln if len(_WORD.sub("", w)) < len(w)]
    if len(ws) < n:
        return []
    last = len(ws) - n
    starts = sorted({round(i * last / max(1, per_image - 1)) for i in range(per_image)}) if per_image > 1 else [0]
    out: list[str] = []
    for s in starts:
        # s, then outwards (towards the middle of the text first)
        order = sorted(range(last + 1), key=lambda i: (abs(i - s), (i < s) == (s < last / 2)))
        for i in order:
            phrase = " ".join(ws[i:i + n])
            if phrase not in out and (shared is None or not shared(phrase)):
                out.append(phrase)
                break
    return out


def phrase_recall(searcher: Any, cases: Iterable[tuple[str, str]], per_image: int = 2,
                  weights: dict[str, float] | None = None) -> dict[str, Any]:
    """Phrase recall@1: for four-word phrases from each image's truth that no other image of the
    set holds (`phrases(shared=...)`; how many first choices were replaced is `shared_replaced`),
    the share whose first hit (hybrid search, as `imgrag search PHRASE -k 1`) is that image."""
    cases = list(cases)
    norm = {path: " ".join(words_of(t)) for path, t in cases}
    found = total = replaced = 0
    misses: list[dict[str, str]] = []
    for path, truth in cases:
        def shared(phrase: str, path: str = path) -> bool:
            q = " ".join(words_of(phrase))
            return any(q in text for other, text in norm.items() if other != path)

        replaced += len(set(phrases(truth, 4, per_image)) - set(phrases(truth, 4, per_image, shared)))
        for phrase in phrases(truth, 4, per_image, shared):
            total += 1
            hits = searcher.search(phrase, k=1, mode="hybrid", weights=weights)
            top = os.path.realpath(hits[0].path) if hits else ""
            if top == os.path.realpath(path):
                found += 1
            else:
                misses.append({"phrase": phrase, "expected": os.path.basename(path),
                               "got": os.path.basename(top)})
    return {"phrases": total, "recall_at_1": round(found / max(1, total), 4), "misses": misses,
            "shared_replaced": replaced}
