"""The whole `imgrag index` command against the seed's naive loop, each in a fresh process.

The indexing part times the visual pass inside one process that has already imported
everything and loaded its models; a user's `imgrag index` also pays for starting Python,
importing torch, open_clip and LanceDB, loading the models and the later stages (OCR, text
vectors, faces). Here both sides run as fresh processes on the same files, with the default
settings (only the CLIP weights are random), so start-up and every later stage count:

* the command: `python -m imgrag_desktop.bench.child index` (what `imgrag index` does,
  including its `--json` timings per stage and its peak memory);
* the naive loop: `python -m imgrag_desktop.bench.child naive`, a script as the seed wrote
  it: import open_clip and LanceDB, build the model in open_clip's default fp32, then one
  image at a time: full decode, preprocess, encode, insert one row.

Reported per set: both wall times, their ratio (goal: the command at least 2x faster), both
peak RSS figures, and the command's own split (start-up, visual pass, each later stage, wall
and CPU seconds).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, say
from imgrag_desktop.bench.memory import child_env, random_weights_file, run_measured
from imgrag_desktop.types import ImgragError


def _run_child(args: list[str], timeout: float, env: dict[str, str] | None = None
               ) -> tuple[float, float | None, dict[str, Any]]:
    """(wall seconds from before the process starts to its exit, peak RSS MB, its JSON)."""
    cmd = [sys.executable, "-m", "imgrag_desktop.bench.child", *args]
    out: list[str] = []
    rc, wall, peak, err = run_measured(cmd, env or child_env(), timeout, stdout=out)
    if rc != 0:
        last = err.strip().splitlines()[-1] if err.strip() else str(rc)
        raise ImgragError(f"benchmark child {args[0]} failed: {last}")
    return wall, peak, json.loads("".join(out).strip().splitlines()[-1])


def bench_command(work_dir: Path, sets: dict[str, Path], model: str, progress: Progress | None = None,
                  timeout: float = 3600) -> dict[str, Any]:
    """For each named folder: the whole command and the naive loop, fresh processes, same files."""
    from imgrag_desktop.config import AppConfig

    out: dict[str, Any] = {}
    weights = random_weights_file(work_dir, model)

    def configured(data_dir: Path) -> Path:
        cfg = AppConfig.load(data_dir, "default")
        cfg.settings.clip_model = model
        cfg.settings.clip_pretrained = ""  # random weights: same architecture, no download
        cfg.settings.clip_checkpoint = weights  # from a file, as a user's weights load
        cfg.save()
        return data_dir

    # The model's ONNX export (models/onnx_clip.py) is made once per model, by the first index
    # run of a library, which waits for it: made here beforehand, untimed, in a folder the
    # measured runs share, so they show what every later run of a user costs.
    env = child_env()
    if env.get("IMGRAG_ONNX_DIR", "").lower() != "off" and sets:
        env["IMGRAG_ONNX_DIR"] = str(work_dir / "onnx-exports")
        first = next(iter(sets.values()))
        sample = work_dir / "export-sample"
        sample.mkdir(parents=True, exist_ok=True)
        for f in sorted(p for p in first.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:2]:
            shutil.copy2(f, sample / f.name)
        say(progress, "command: the model's ONNX export, once (untimed)")
        _run_child(["index", str(sample), "--data-dir", str(configured(work_dir / "data-export"))], timeout, env)
        shutil.rmtree(sample, ignore_errors=True)
        shutil.rmtree(work_dir / "data-export", ignore_errors=True)
    for name, folder in sets.items():
        data_dir = configured(work_dir / f"data-command-{name}")
        # naive, command, naive again (the naive figure is the mean of its two runs), so a
        # machine that gets busier or quieter during the run favours neither side.
        say(progress, f"command {name}: naive loop in a fresh process")
        n1, naive_peak, naive = _run_child(["naive", str(folder), "--data-dir", str(work_dir / f"naive-{name}"),
                                            "--model", model], timeout)
        say(progress, f"command {name}: imgrag index in a fresh process")
        wall, peak, data = _run_child(["index", str(folder), "--data-dir", str(data_dir)], timeout, env)
        say(progress, f"command {name}: naive loop again")
        n2, naive_peak2, _ = _run_child(["naive", str(folder), "--data-dir", str(work_dir / f"naive2-{name}"),
                                         "--model", model], timeout)
        if data.get("failed") or data.get("images") != naive["images"]:
            raise ImgragError(f"benchmark indexing went wrong on {name}: {data.get('images')} rows, "
                              f"{data.get('failed')} failed, naive loop {naive['images']}")
        naive_s = (n1 + n2) / 2
        out[name] = {
            "images": naive["images"], "naive_s": round(naive_s, 2), "naive_loop_s": naive["loop_s"],
            "naive_start_s": round(naive_s - naive["loop_s"], 2), "command_s": round(wall, 2),
            "speedup": round(naive_s / wall, 2),
            "naive_peak_rss_mb": None if naive_peak is None else round(max(naive_peak, naive_peak2 or 0), 1),
            "command_peak_rss_mb": None if peak is None else round(peak, 1),
            "timings": data.get("timings", {}),
            # start-up (Python, imports, the models' load) and what is outside every stage
            "command_start_and_rest_s": round(wall - float(data.get("seconds") or 0)
                                              - sum((data.get("timings") or {}).get("stage_seconds", {}).values()), 2),
        }
        for d in (data_dir, work_dir / f"naive-{name}", work_dir / f"naive2-{name}"):
            shutil.rmtree(d, ignore_errors=True)
    return out
