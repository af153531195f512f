#!/usr/bin/env bash
# The GPU figures of issue 19, in one run (prepared on a machine without a GPU: run it as is
# when a device is lent, e.g. through the device tool, and copy the numbers into
# docs/performance.md with the date). Writes everything under ${OUT:-./gpu-bench}.
#   ViT-B-32 indexing of 640x480 and 12 MP JPEGs (pipeline vs naive loop, decode workers),
#   text query latency, dlib CNN face detection, VLM caption time and tokens/s.
# Budget: about 8 minutes. Each step has its own time limit so one hang loses only its figure.
set -u
OUT=${OUT:-./gpu-bench}
PY=${PY:-python}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-$PWD} QT_QPA_PLATFORM=offscreen
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; date -u; } > "$OUT/machine.txt" 2>&1
$PY -c "import torch; print('cuda', torch.cuda.is_available(), torch.version.cuda)" >> "$OUT/machine.txt" 2>&1
# Indexing on the GPU: batches of 128, one decode worker per core (the default), then 2x that.
for W in "" "--workers $(( $(nproc) * 2 ))"; do
  tag=${W:+w$(( $(nproc) * 2 ))}
  timeout 240 $PY -m imgrag_desktop.cli bench --json --part index --device cuda --images 1024 $W \
    > "$OUT/index${tag:+-$tag}.json" 2> "$OUT/index${tag:+-$tag}.log"
done
# Text query latency (model on the GPU; vectors in RAM) at 100k rows.
timeout 240 $PY -m imgrag_desktop.cli bench --json --part search --device cuda --sizes 100000 --queries 100 \
  > "$OUT/search.json" 2> "$OUT/search.log"
# dlib's CNN face detector on the shared faces (only if this dlib was built with CUDA).
timeout 120 $PY - > "$OUT/faces.json" 2> "$OUT/faces.log" <<'PYEOF'
import glob, json, os, time
from PIL import Image
from imgrag_desktop.models.faces import DlibFaces, gpu_for_dlib
files = sorted(glob.glob(os.path.join("..", "shared", "data", "faces", "**", "*.jp*g"), recursive=True))[:40]
out = {"dlib_cuda": bool(gpu_for_dlib()), "images": len(files)}
for kind in ("cnn", "hog"):
    f = DlibFaces(detector=kind).load()
    ims = [Image.open(p).convert("RGB") for p in files]
    f.faces(ims[0])
    t = time.perf_counter(); n = sum(len(f.faces(im)) for im in ims)
    out[kind] = {"ms_per_image": round((time.perf_counter() - t) * 1e3 / max(len(ims), 1), 1), "faces": n}
print(json.dumps(out))
PYEOF
# The VLM: caption seconds per picture and answer tokens/s (the bench's vlm part).
timeout 240 $PY -m imgrag_desktop.cli bench --json --part vlm --device cuda > "$OUT/vlm.json" 2> "$OUT/vlm.log"
ls -l "$OUT"
