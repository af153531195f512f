"""Every model the app can fetch, of both kinds: the curated CLIP list and the VLM catalogue.

One list for `imgrag models` and the window's Models page: each row says what the model is,
its download size, memory, speed class, the published retrieval figure it is known for, its
languages, and whether it is installed, partly downloaded, or in use. Installing goes through
`models/downloads.py` (resumable, verified); selecting writes the settings.

The CLIP figures are from open_clip's published results table (docs/openclip_retrieval_results.csv
in mlfoundations/open_clip): MSCOCO text-to-image retrieval recall@5, zero-shot. Image GFLOPs
are from the same table's model profile (image tower at the model's resolution) and set the
speed class: the default model measured ~21 images/s on 2 CPU threads here
(docs/performance.md); others scale roughly with GFLOPs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgrag_desktop.models import registry
from imgrag_desktop.models.downloads import HubDownloader, ProgressFn, partial_bytes
from imgrag_desktop.types import ImgragError


@dataclass(frozen=True)
class ClipChoice:
    name: str  # the short name users type
    model: str  # open_clip architecture
    pretrained: str  # open_clip tag, or hf-hub:ORG/REPO
    title: str
    size_mb: int  # the weights file, about
    memory_mb: int  # resident while indexing on CPU, about (fp32 weights + activations)
    gflops: float  # image tower, per image
    coco_r5: float  # MSCOCO image retrieval recall@5 (open_clip results table), 0 when unknown
    languages: str
    notes: str

    @property
    def speed(self) -> str:
        est = 21.0 * 4.4 / max(self.gflops, 0.1)  # the default's measured rate, scaled by compute
        return f"~{est:.0f} img/s, 2 CPU threads" if est >= 1 else f"~{1 / est:.0f} s/img, 2 CPU threads"


CLIP_CATALOGUE: tuple[ClipChoice, ...] = (
    ClipChoice("vit-b-32-256", "ViT-B-32-256", "datacomp_s34b_b86k", "ViT-B/32 at 256 px, DataComp-1B (default)",
               605, 900, 5.8, 65.4, "English", "the default: fast on any CPU, good all-round"),
    ClipChoice("vit-b-32", "ViT-B-32", "laion2b_s34b_b79k", "ViT-B/32, LAION-2B",
               605, 850, 4.4, 65.4, "English", "the classic open CLIP; fastest of the list"),
    ClipChoice("vit-b-16", "ViT-B-16", "datacomp_xl_s13b_b90k", "ViT-B/16, DataComp-XL",
               600, 1100, 17.6, 66.0, "English", "finer detail (small text, faces in crowds); ~3x slower"),
    ClipChoice("vit-l-14", "ViT-L-14", "datacomp_xl_s13b_b90k", "ViT-L/14, DataComp-XL",
               1710, 2600, 81.1, 70.0, "English", "the most accurate here; wants a GPU (~15x slower on CPU)"),
)


def clip_choice(name: str) -> ClipChoice | None:
    key = (name or "").strip().lower()
    return next((c for c in CLIP_CATALOGUE if c.name == key or f"{c.model}/{c.pretrained}".lower() == key), None)


def current_clip(cfg: Any) -> ClipChoice:
    """The CLIP the settings name, as a catalogue row (a model outside the list gets one too)."""
    s = cfg.settings
    for c in CLIP_CATALOGUE:
        if c.model == s.clip_model and c.pretrained == s.clip_pretrained:
            return c
    return ClipChoice(f"{s.clip_model}/{s.clip_pretrained}", s.clip_model, s.clip_pretrained,
                      f"{s.clip_model} ({s.clip_pretrained})", 0, 0, 0.0, 0.0, "?", "the model in settings.json")


def hub_cache(cfg: Any) -> Path:
    return Path(cfg.models_dir) / "hub"


def clip_installed(cfg: Any, c: ClipChoice) -> bool:
    from imgrag_desktop.models.clip import cached_weights, hub_caches

    return cached_weights(c.model, c.pretrained, hub_caches(cfg)) is not None


def clip_partial(cfg: Any, c: ClipChoice) -> int:
    """Bytes of an interrupted download of this model (0 when none)."""
    from huggingface_hub.file_download import repo_folder_name

    from imgrag_desktop.models.clip import _hub_location

    loc = _hub_location(c.model, c.pretrained)
    if loc is None:
        return 0
    blobs = hub_cache(cfg) / repo_folder_name(repo_id=loc[0], repo_type="model") / "blobs"
    return sum(p.stat().st_size for p in blobs.glob("*.part")) if blobs.is_dir() else 0


def clip_in_use(cfg: Any, c: ClipChoice) -> bool:
    s = cfg.settings
    return not s.clip_checkpoint and s.clip_model == c.model and s.clip_pretrained == c.pretrained


def vlm_partial(cfg: Any, e: registry.CatalogueEntry) -> int:
    return sum(partial_bytes(p) for p in registry.entry_paths(cfg, e) if p is not None)


def rows(cfg: Any, kind: str = "") -> list[dict[str, Any]]:
    """The Models page and `imgrag models list --json`: one object per model of both kinds."""
    out: list[dict[str, Any]] = []
    if kind in ("", "clip"):
        listed = list(CLIP_CATALOGUE)
        cur = current_clip(cfg)
        if cur not in listed and not cfg.settings.clip_checkpoint:
            listed.append(cur)
        for c in listed:
            installed = clip_installed(cfg, c)
            out.append({"name": c.name, "kind": "clip", "title": c.title, "installed": installed,
                        "partial_bytes": 0 if installed else clip_partial(cfg, c), "in_use": clip_in_use(cfg, c),
                        "size_mb": c.size_mb, "memory_mb": c.memory_mb, "speed": c.speed if c.gflops else "",
                        "coco_image_r5": c.coco_r5 or None, "languages": c.languages, "notes": c.notes,
                        "model": c.model, "pretrained": c.pretrained})
    if kind in ("", "vlm"):
        current = cfg.settings.vlm_model
        for e in registry.CATALOGUE:
            row = e.to_json()
            installed = registry.entry_installed(cfg, e)
            row.update({"kind": "vlm", "installed": installed, "partial_bytes": 0 if installed else vlm_partial(cfg, e),
                        "in_use": current == e.name, "memory_mb": None, "languages": "",
                        "speed": "", "coco_image_r5": None})
            out.append(row)
    return out


def find(name: str) -> tuple[str, Any]:
    """("clip", ClipChoice) or ("vlm", CatalogueEntry) for a name, or a one-line error."""
    c = clip_choice(name)
    if c is not None:
        return "clip", c
    e = registry.catalogue_entry(name)
    if e is not None:
        return "vlm", e
    if "/" in name and not name.startswith("/"):
        model, _, pretrained = name.partition("/")
        return "clip", ClipChoice(name, model, pretrained, name, 0, 0, 0.0, 0.0, "?", "")
    names = [c.name for c in CLIP_CATALOGUE] + [e.name for e in registry.CATALOGUE]
    raise ImgragError(f"no model named {name!r}: choose one of {', '.join(names)} (or MODEL/PRETRAINED for open_clip)")


def install(cfg: Any, name: str, progress: ProgressFn | None = None, cancel: threading.Event | None = None,
            downloader: HubDownloader | None = None, keep_partial: bool = True) -> list[Path]:
    """Download a model of either kind into the data dir (resumable); returns its files."""
    from imgrag_desktop.models.clip import download_weights

    kind, item = find(name)
    dl = downloader or HubDownloader()
    if kind == "clip":
        from imgrag_desktop.models.clip import cached_weights, hub_caches

        have = cached_weights(item.model, item.pretrained, hub_caches(cfg))
        if have is not None:  # already here: no network at all
            return [Path(have)]
        return [Path(download_weights(item.model, item.pretrained, hub_cache(cfg), progress, cancel, dl, keep_partial))]
    model, mmproj = registry.install_entry(cfg, item, progress=progress, cancel=cancel, downloader=dl,
                                           keep_partial=keep_partial)
    return [p for p in (model, mmproj) if p is not None]


def use(cfg: Any, name: str) -> str:
    """Make a model of either kind the one in use; returns its kind. It must be installed."""
    kind, item = find(name)
    if kind == "clip":
        if not clip_installed(cfg, item):
            raise ImgragError(f"{item.name} is not downloaded yet: run `imgrag models download {item.name} --use`")
        s = cfg.settings
        s.clip_model, s.clip_pretrained, s.clip_checkpoint = item.model, item.pretrained, ""
        cfg.save()
        return kind
    if not registry.entry_installed(cfg, item):
        raise ImgragError(f"{item.name} is not downloaded yet: run `imgrag models download {item.name} --use`")
    registry.use_entry(cfg, item)
    return kind


def missing(cfg: Any) -> list[dict[str, Any]]:
    """What the first-run assistant offers: the models this setup wants and does not have."""
    out = []
    name, _pretrained, ckpt = cfg.clip_spec()
    if not ckpt:
        c = current_clip(cfg)
        if not clip_installed(cfg, c):
            out.append({"name": c.name, "kind": "clip", "waiting": "visual search (pictures by what they show)",
                        "size_mb": c.size_mb})
    return out


def discard_partial(cfg: Any, name: str) -> None:
    """Remove what a cancelled download of this model left (its .part files)."""
    from huggingface_hub.file_download import repo_folder_name

    from imgrag_desktop.models.clip import _hub_location
    from imgrag_desktop.models.downloads import remove_partial

    kind, item = find(name)
    if kind == "vlm":
        for p in registry.entry_paths(cfg, item):
            if p is not None:
                remove_partial(p)
        return
    loc = _hub_location(item.model, item.pretrained)
    if loc is None:
        return
    blobs = hub_cache(cfg) / repo_folder_name(repo_id=loc[0], repo_type="model") / "blobs"
    for part in blobs.glob("*.part") if blobs.is_dir() else []:
        remove_partial(part.with_suffix(""))


def use_local_file(cfg: Any, path: str, clip_model: str | None = None) -> str:
    """Use a model file already on this computer: a .gguf is the VLM (text only until its
    projector is set), anything else a CLIP checkpoint, loaded once to check it fits. Its
    architecture is `clip_model` when given, else the one in the settings when the file fits it,
    else the one the file's shapes name (so a ViT-L-14 file works while ViT-B-32 is set).
    Returns the kind."""
    import os

    p = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(p):
        raise ImgragError(f"{p} is not a file")
    s = cfg.settings
    if p.endswith(".gguf"):
        from imgrag_desktop.models.gguf_info import check_pair, read_gguf

        check_pair(read_gguf(p), None)
        s.vlm_model, s.vlm_mmproj = p, ""
        cfg.save()
        return "vlm"
    from imgrag_desktop.models.clip import ClipEncoder, architectures_for

    arch = clip_model
    if not arch:
        fits = architectures_for(p)
        arch = s.clip_model if s.clip_model in fits or not fits else fits[0]
    enc = ClipEncoder(arch, "", p, device="cpu")
    enc.load()  # refuses a file that does not fit the architecture, with the reason
    enc.unload()
    s.clip_model, s.clip_checkpoint = arch, p
    cfg.save()
    return "clip"
