"""`imgrag bench --part ocr`: how well and how fast each OCR engine reads, through the real path.

For each engine (tesseract, rapidocr, auto) one library is indexed the way `imgrag index` does
it (test profile: tiny CLIP, the real text embedder), one set at a time: the shared screenshots,
the shared receipts (SROIE scans with their `expected.json`), pages generated with known text
(`evaluation/ocr_cases.py`: turned, phone-photographed, low contrast, UI type at 1x/2x, columns)
and a few COCO photos as distractors. Per set: character error rate and word recall of the text
the index holds, phrase recall@1 through the search `imgrag search PHRASE -k 1` runs (query
reading, then hybrid search; four-word phrases from the truth that no other image of the set holds,
`ocr_quality.phrase_recall`) with every miss listed, and
seconds per image of the OCR stage (wall, its workers in parallel).

Then the costs that travel between machines as ratios or CPU time: the text detector alone on
text-free-looking COCO photos, and indexing one mixed folder (photos, screenshots, receipts)
the way it is done now against the way it was done before this engine came (Tesseract on
screenshots and documents only, photos never read), in CPU seconds of this process and its
children, measured in the same run, once with the test profile's tiny CLIP (OCR's share at its
largest) and once with the default image model's architecture with random weights (the compute
of the real one: what indexing costs a user). `bench_mixed` runs that comparison alone.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from imgrag_desktop.bench.common import Progress, coco_images, say

ENGINES = ("tesseract", "rapidocr", "auto")
# The goals of issue 15.
GOALS = {"phrase_recall_at_1": 0.95, "detector_cpu_ms_per_photo": 50.0, "mixed_folder_cpu_ratio": 1.5}


def shared_data() -> Path:
    return Path(os.environ.get("IMGRAG_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract, the OCR children)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CliSearch:
    """What `imgrag search PHRASE -k 1` runs: the query read (search/understand), then the search
    of that reading; `.search` has the Searcher's signature so `phrase_recall` can drive it."""

    def __init__(self, services: Any) -> None:
        self.services = services

    def search(self, text: str, k: int = 1, mode: str = "hybrid", weights: dict[str, float] | None = None) -> list[Any]:
        from imgrag_desktop.search.understand import understand
        from imgrag_desktop.search.understood import search_reading

        svc = self.services
        s = svc.cfg.settings
        w = weights or {m: getattr(s, f"weight_{m}") for m in ("visual", "textual", "keyword")}
        reading = understand(text, None, svc.read_context())
        return list(search_reading(svc.searcher, reading, k, mode=mode, weights=w))


def _services(data_dir: Path, engine: str, timeout_s: float, encoder: Any = None) -> Any:
    """A test-profile engine (tiny CLIP, the real text embedder) in `data_dir` with this OCR
    engine; `encoder`: another image model to index with instead of the tiny CLIP."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    cfg = AppConfig.load(data_dir, "test")
    cfg.settings.ocr_engine = engine
    cfg.settings.ocr_timeout_s = timeout_s
    cfg.ensure_dirs()
    svc = Services(cfg)
    if encoder is not None:
        svc._clip = encoder
    return svc


def _index(svc: Any, root: Path, old: bool = False) -> dict[str, Any]:
    """Index `root` as `imgrag index` does; `old`: OCR as before RapidOCR came (Tesseract, pages
    only, no detector). Wall and CPU seconds of the whole run and of its OCR stage."""
    from imgrag_desktop.indexing.stages import STAGES, run_later_stages

    cancel = threading.Event()
    t0, c0 = time.perf_counter(), _cpu()
    report = svc.indexer().index_paths([str(root)], cancel=cancel, remove_missing=False)
    ocr: dict[str, Any] = {}
    ocr_wall = ocr_cpu = 0.0
    for stage in STAGES:
        if stage.part != "library":
            continue
        s0, sc0 = time.perf_counter(), _cpu()
        if stage.name == "ocr" and old:
            ocr = _old_ocr(svc, root)
        else:
            out = run_later_stages(svc, cancel, stages=[stage])
            if stage.name == "ocr":
                ocr = out.get("ocr") or {}
        if stage.name == "ocr":
            svc.close_ocr()  # its children are reaped, so their CPU time counts (RUSAGE_CHILDREN)
            ocr_wall, ocr_cpu = time.perf_counter() - s0, _cpu() - sc0
    # The face child too: left to end 30 s after its last picture, its CPU would be counted in
    # whichever run is going on then (the next library's OCR), not in this one.
    svc.close_faces()
    return {"images": report.added + report.updated, "wall_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round(_cpu() - c0, 2), "ocr_wall_s": round(ocr_wall, 2), "ocr_cpu_s": round(ocr_cpu, 2),
            "ocr": {k: ocr.get(k) for k in ("read", "detector_only", "failed", "seconds")},
            "ocr_failures": [f"{os.path.basename(f['path'])}: {f['reason']}" for f in ocr.get("failures", [])]}


def _old_ocr(svc: Any, root: Path) -> dict[str, Any]:
    """The OCR of the release before: Tesseract read screenshots and documents; photos were skipped."""
    from imgrag_desktop.indexing.text_stage import OCR_PENDING, OcrStage
    from imgrag_desktop.models.ocr import PAGE_KINDS, TesseractOcr
    from imgrag_desktop.store import sql_in

    store = svc.store
    photos = store.query(f"{OCR_PENDING} AND NOT {sql_in('kind', list(PAGE_KINDS))}", ["path"]).column("path").to_pylist()
    store.update_rows({p: {"ocr_status": "skipped"} for p in photos})
    s = svc.cfg.settings
    return OcrStage(store, TesseractOcr(languages=s.ocr_languages, timeout_s=s.ocr_timeout_s),
                    workers=s.ocr_workers, detect_first=False).run().to_json()


def _quality(svc: Any, cases: list[tuple[str, str]], per_image: int) -> dict[str, Any]:
    from imgrag_desktop.evaluation import read_text
    from imgrag_desktop.evaluation.ocr_quality import char_errors, phrase_recall, word_recall

    rows = svc.store.rows([p for p, _ in cases], ["path", "ocr_text", "ocr_words", "ocr_status", "error"])
    edits = chars = 0
    recalls = []
    unread = []
    for path, truth in cases:
        row = rows.get(path) or {}
        if row.get("ocr_status") != "done":
            unread.append(f"{os.path.basename(path)}: {row.get('ocr_status')} {row.get('error') or ''}".strip())
        text = read_text(row.get("ocr_text"), row.get("ocr_words"))
        e, n = char_errors(text, truth)
        edits, chars = edits + e, chars + n
        recalls.append(word_recall(text, truth))
    pr = phrase_recall(CliSearch(svc), cases, per_image=per_image)
    return {"images": len(cases), "cer": round(edits / max(1, chars), 4),
            "word_recall": round(sum(recalls) / max(1, len(recalls)), 4),
            "phrases": pr["phrases"], "phrase_recall_at_1": pr["recall_at_1"], "misses": pr["misses"],
            "shared_phrases_replaced": pr["shared_replaced"],
            "not_read": unread}


def _copy_set(cases: Sequence[tuple[str, str]], folder: Path) -> list[tuple[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src, truth in cases:
        dst = folder / os.path.basename(src)
        shutil.copy2(src, dst)
        out.append((str(dst), truth))
    return out


def ocr_sets(tmp: Path, limit: int | None, per_kind: int) -> dict[str, list[tuple[str, str]]]:
    """{set name: [(image path, truth)]}: the shared screenshots and receipts (the first `limit`
    of each) and the generated pages. Missing shared data is an error, not a smaller set."""
    from imgrag_desktop.evaluation.ocr_cases import write_cases
    from imgrag_desktop.evaluation.ocr_quality import load_set
    from imgrag_desktop.types import ImgragError

    data = shared_data()
    sets: dict[str, list[tuple[str, str]]] = {}
    for name in ("screenshots", "receipts"):
        folder = data / name
        if not (folder / "expected.json").is_file():
            raise ImgragError(f"the OCR benchmark needs {folder} with its expected.json (set IMGRAG_SHARED_DATA)")
        sets[name] = load_set(name, str(folder), limit)
    gen = tmp / "generated-src"
    write_cases(str(gen), per_kind=per_kind)
    cases = load_set("generated", str(gen), None)
    if limit and limit < len(cases):  # spread over the kinds
        cases = [cases[round(i * (len(cases) - 1) / max(1, limit - 1))] for i in range(limit)] if limit > 1 else cases[:1]
    sets["generated"] = cases
    return sets


def bench_ocr(tmp: Path, quick: bool = False, engines: Sequence[str] = ENGINES, limit: int | None = None,
              photos: int | None = None, timeout_s: float | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The OCR part's result (see the module's docstring). `limit`: images per shared set
    (None: all; quick: 6); `photos`: COCO photos beside them and for the detector (quick: 6,
    else 20)."""
    from imgrag_desktop.config import Settings
    from imgrag_desktop.evaluation.ocr_quality import detector_cost

    timeout_s = float(timeout_s if timeout_s is not None else Settings().ocr_timeout_s)  # the setting's default
    limit = limit or (6 if quick else None)
    n_photos = photos or (6 if quick else 20)
    per_kind = 1 if quick else 2
    root = tmp / "ocr"
    src = ocr_sets(root, limit, per_kind)
    coco = coco_images(n_photos * 2)
    if not coco:
        from imgrag_desktop.types import ImgragError

        raise ImgragError(f"the OCR benchmark needs COCO photos in {shared_data() / 'coco-mini'} (or IMGRAG_BENCH_PHOTOS)")
    result: dict[str, Any] = {"timeout_s": timeout_s, "sets": {k: len(v) for k, v in src.items()},
                              "photos": min(n_photos, len(coco)), "engines": {}}

    say(progress, f"ocr: the text detector alone on {len(coco)} COCO photos")
    result["detector"] = detector_cost(str(p) for p in coco)

    for engine in engines:
        lib = root / f"lib-{engine}"
        sets = {name: _copy_set(cases, lib / name) for name, cases in src.items()}
        _copy_set([(str(p), "") for p in coco[:n_photos]], lib / "photos")
        svc = _services(root / f"data-{engine}", engine, timeout_s)
        out: dict[str, Any] = {}
        for name in ("photos", *sets):
            say(progress, f"ocr: {engine}: indexing {name}")
            run = _index(svc, lib / name)
            n = max(1, run["images"])
            run["ocr_s_per_image"] = round(run["ocr_wall_s"] / n, 2)
            run["ocr_cpu_s_per_image"] = round(run["ocr_cpu_s"] / n, 2)
            out[name] = {"index": run}
        for name, cases in sets.items():
            say(progress, f"ocr: {engine}: phrase recall on {name}")
            out[name].update(_quality(svc, cases, per_image=2))
        result["engines"][engine] = out

    say(progress, "ocr: a mixed folder, the old way against the new")
    result["mixed_folder"] = _mixed(root, src, coco, timeout_s, quick, n_photos)
    result["goals"] = _goals(result)
    return result


def _mixed(root: Path, src: dict[str, list[tuple[str, str]]], coco: Sequence[Path], timeout_s: float,
           quick: bool, n_photos: int, models: Sequence[str] = ("tiny", "default")) -> dict[str, Any]:
    """A folder of mostly photos with some screenshots and receipts (40 : 6 : 2 in a full run),
    indexed the old way and the new, once per image model: "tiny" (the test profile's CLIP,
    where OCR's share looks largest) and "default" (the product's default architecture with
    random weights, `bench_encoder`: the same compute as the real model, what indexing costs a
    user). The top-level keys are the tiny model's run; `by_model` has each."""
    n_ph = len(coco) if quick else 40
    folder = root / "mixed"
    _copy_set([(str(p), "") for p in list(coco)[:n_ph]], folder)
    _copy_set(src["screenshots"][:max(1, n_ph * 3 // 20)], folder)
    _copy_set(src["receipts"][:max(1, n_ph // 20)], folder)
    # One small folder indexed both ways first, so that neither measured run pays the one-time
    # imports of this process (torch, LanceDB, the text model's code, dlib) and the ratio is
    # that of indexing, as in a long-running app. Each run still starts its own OCR children.
    warm = root / "mixed-warm"
    _copy_set([(str(list(coco)[0]), ""), src["screenshots"][0]], warm)
    by_model: dict[str, Any] = {}
    with _shared_exports(root / "onnx-exports"):
        for model in models:
            by_model[model] = _mixed_model(root, folder, warm, model, timeout_s)
    first = by_model[models[0]]
    return {"files": len(list(folder.iterdir())), **first, "by_model": by_model}


@contextlib.contextmanager
def _shared_exports(folder: Path) -> Iterator[None]:
    """Every library of the comparison shares one folder of ONNX exports (IMGRAG_ONNX_DIR), as a
    user's later runs do: the models' once-only export (seconds to minutes of CPU, in a
    background thread) is made by the warm-up runs, untimed, and not by whichever measured run
    happens to be the first in its fresh data dir."""
    before = os.environ.get("IMGRAG_ONNX_DIR")
    if before is not None and before.lower() == "off":
        yield
        return
    os.environ["IMGRAG_ONNX_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("IMGRAG_ONNX_DIR", None)
        else:
            os.environ["IMGRAG_ONNX_DIR"] = before


def _mixed_model(root: Path, folder: Path, warm: Path, model: str, timeout_s: float) -> dict[str, Any]:
    """The mixed folder indexed the old way and the new with one image model."""
    from imgrag_desktop.models import onnx_clip

    encoder = _encoder(model)
    for label, old in (("before", True), ("now", False)):
        _index(_services(root / f"data-warm-{model}-{label}", "auto", timeout_s, encoder), warm, old=old)
        onnx_clip.wait_for_exports()  # before the next library looks for the export
    runs = {}
    for label, old in (("before", True), ("now", False)):
        svc = _services(root / f"data-mixed-{model}-{label}", "auto", timeout_s, encoder)
        runs[label] = _index(svc, folder, old=old)
    b, n = runs["before"], runs["now"]
    return {"clip": getattr(encoder, "model_name", "tiny") if encoder is not None else "tiny",
            **runs, "cpu_ratio": round(n["cpu_s"] / max(1e-6, b["cpu_s"]), 2),
            "wall_ratio": round(n["wall_s"] / max(1e-6, b["wall_s"]), 2)}


def _encoder(model: str) -> Any:
    """None for the test profile's tiny CLIP; else the product's default architecture (the
    setting's default) with random weights."""
    if model == "tiny":
        return None
    from imgrag_desktop.bench.common import bench_encoder
    from imgrag_desktop.config import Settings

    return bench_encoder(Settings().clip_model if model == "default" else model)


def bench_mixed(tmp: Path, quick: bool = False, models: Sequence[str] = ("tiny", "default"),
                timeout_s: float | None = None) -> dict[str, Any]:
    """The mixed-folder comparison alone (what the speed goal of issue 15 measures)."""
    from imgrag_desktop.config import Settings

    timeout_s = float(timeout_s if timeout_s is not None else Settings().ocr_timeout_s)
    root = tmp / "ocr"
    src = ocr_sets(root, 6 if quick else None, 1)
    coco = coco_images(12 if quick else 40)
    return _mixed(root, src, coco, timeout_s, quick, len(coco), models)


def _goals(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    best: dict[str, Any] = r["engines"].get("auto") or next(iter(r["engines"].values()), {})
    for name in ("screenshots", "receipts"):
        if name in best:
            v = best[name]["phrase_recall_at_1"]
            out[f"phrase_recall_at_1_{name}"] = {"value": v, "target": GOALS["phrase_recall_at_1"],
                                                 "met": v >= GOALS["phrase_recall_at_1"]}
    d = r["detector"]["cpu_ms_per_image"]
    out["detector_cpu_ms_per_photo"] = {"value": d, "target": GOALS["detector_cpu_ms_per_photo"],
                                        "met": d <= GOALS["detector_cpu_ms_per_photo"]}
    m = r["mixed_folder"]["cpu_ratio"]
    out["mixed_folder_cpu_ratio"] = {"value": m, "target": GOALS["mixed_folder_cpu_ratio"],
                                     "met": m <= GOALS["mixed_folder_cpu_ratio"]}
    return out


def ocr_lines(r: dict[str, Any]) -> list[str]:
    """The OCR part in `imgrag bench`'s summary."""
    lines = [f"ocr: detector alone {r['detector']['cpu_ms_per_image']} ms CPU per photo "
             f"({r['detector']['ms_per_image']} ms wall; text found in {r['detector']['with_text']} of "
             f"{r['detector']['images']})"]
    for engine, sets in r["engines"].items():
        for name, s in sets.items():
            if "cer" not in s:
                continue
            lines.append(f"ocr {engine:9s} {name:11s} ({s['images']}): CER {s['cer']:.3f}, word recall "
                         f"{s['word_recall']:.3f}, phrase recall@1 {s['phrase_recall_at_1']:.2f} of {s['phrases']}, "
                         f"{s['index']['ocr_s_per_image']} s per image")
    m = r["mixed_folder"]
    for model, mm in (m.get("by_model") or {"tiny": m}).items():
        lines.append(f"ocr mixed folder ({m['files']} files, {model} CLIP): CPU {mm['now']['cpu_s']} s now vs "
                     f"{mm['before']['cpu_s']} s before (x{mm['cpu_ratio']}), wall x{mm['wall_ratio']}")
    for name, g in r["goals"].items():
        lines.append(f"goal {name}: {g['value']} (target {g['target']}) {'met' if g['met'] else 'NOT met'}")
    return lines
