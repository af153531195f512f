"""The benchmark parts: one list, which the runner dispatches on and `imgrag bench --part`
offers as its choices. No imports, so building the CLI's parser costs nothing."""

from __future__ import annotations

# name -> what it measures
PARTS: dict[str, str] = {
    "index": "indexing throughput: the pipeline against a naive one-image-at-a-time loop",
    "search": "search latency and IVF recall at several library sizes (synthetic CLIP-like vectors)",
    "copies": "a typed search as the window runs it (500 results, copies folded) where a fifth of the pictures are near-identical copies",
    "window": "a typed search through the offscreen window, sent to the grid filled and painted, where a fifth of the pictures are copies",
    "memory": "peak memory of indexing in a fresh process, and the window's cold start",
    "features": "cost of calibration, tiles, near-duplicate folding and the duplicate scan against the visual pass",
    "vlm": "the local VLM: caption time per picture, answer tokens per second",
    "watch": "the folder watcher: last write to searchable, idle CPU, a large tree",
    "gui": "the watcher through the window: copy to shown in the grid, event-loop stalls, duplicates tab",
    "ocr": "each OCR engine's CER, word recall, phrase recall@1 through search and s/image; the detector alone; a mixed folder against the old OCR",
    "warm": "`imgrag search` from a terminal, cold against answered by a running `imgrag watch` (its socket)",
    "places": "places and time per photo against its decode, reverse geocoding a large library, query reading",
}
# What `all` (and no --part) runs: the parts behind the README's performance table and its
# goals. The others are asked for by name: together they would add minutes to `--quick`
# (the VLM and the window's run dominate) and need optional packages (llama-cpp, PySide6).
ALL: tuple[str, ...] = ("index", "search", "memory")
CHOICES: tuple[str, ...] = (*PARTS, "all")
