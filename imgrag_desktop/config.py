"""Settings and where things live on disk.

The data dir holds everything the app writes (database, thumbnails, caches, generated test
models, settings.json). Nothing is ever written inside an indexed folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from imgrag_desktop.atomic import write_json

APP_NAME = "imgrag-desktop"
PROFILES = ("default", "test")

# The tiny CLIP of the test profile: a real open_clip architecture, random weights, fixed seed.
TEST_CLIP_MODEL = "imgrag-tiny"

log = logging.getLogger(__name__)


def _setting(default: Any = dataclasses.MISSING, doc: str = "", window: str = "", cli: str = "",
             factory: Any = dataclasses.MISSING) -> Any:
    """A settings field that carries its own documentation, so docs/settings.md is generated
    from the fields (settings_table) and cannot drift from them."""
    meta = {"doc": doc, "window": window, "cli": cli}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class WindowSettings:
    """The window's own choices, kept under "gui" in settings.json (gui/state.py reads them).

    They live in a nested object so that one data dir stays one complete, movable profile
    while the CLI, which never reads them, has them out of its way. The window also keeps its
    layout there (geometry, splitter sizes, the Ask panel's choices).
    """

    thumb_size: int = _setting(160, "target width of a result cell, in pixels",
                               "Thumbnail size slider beside the search bar (Ctrl++ / Ctrl+-)")
    results_limit: int = _setting(500, "hits listed per search or look-alike query",
                                  "Settings › Searching › Results per search")
    browse_limit: int = _setting(10_000, "images listed when no query is typed")
    rescan_on_start: bool = _setting(True, "check indexed folders for new and changed images when the window opens",
                                     "Settings › Searching › Check indexed folders … at start")
    show_preview: bool = _setting(True, "show the preview pane beside the results", "View › Preview panel (F3)")
    show_folders: bool = _setting(True, "show the Folders panel")


@dataclass
class Settings:
    """User settings, persisted as JSON in the data dir.

    Unknown keys (a newer or older release's settings) are kept in `extra` and written back on
    save, so switching releases back and forth loses nothing. A value of the wrong type falls
    back to the field's default with a warning rather than failing the start.
    """

    folders: list[str] = _setting(doc="folders to index and watch", window="Folders panel › Add… / Remove",
                                  cli="`imgrag index PATH` / `imgrag watch PATH` add PATH (unless --no-remember)",
                                  factory=list)
    clip_model: str = _setting("ViT-B-32-256", "open_clip architecture of the image model",
                               "Settings › Image model › Model name")
    clip_pretrained: str = _setting("datacomp_s34b_b86k", "open_clip pretrained tag (weights) for clip_model",
                                    "Settings › Image model › Pretrained tag")
    clip_checkpoint: str = _setting("", "a local checkpoint file to load instead of downloading the pretrained weights",
                                    "Settings › Image model › Local checkpoint")
    device: str = _setting("auto", "where models run: auto | cpu | cuda | mps", "Settings › Image model › Device")
    precision: str = _setting("auto", "image-model precision: auto (fp16 on CUDA, bf16 on CPUs with native bf16, "
                              "else fp32) | fp32 | bf16 | fp16", "Settings › Image model › Precision")
    clip_runtime: str = _setting("auto", "where CLIP runs on the CPU: auto (queries on onnxruntime once the model is "
                                 "exported, which an index run does; no torch import) | torch | onnx")
    batch_size: int = _setting(0, "images per image-model batch when indexing; 0: chosen for the device")
    decode_workers: int = _setting(0, "threads decoding images ahead of the model; 0: chosen for the machine")
    ignore_hidden: bool = _setting(True, "skip hidden (dot) and system files and folders when scanning")
    fs_timeout_s: float = _setting(10.0, "a folder where one file-system call (stat, list) takes longer than this, "
                                   "in seconds, is offline for that scan (a hung network share); its rows are kept")
    ocr_enabled: bool = _setting(True, "read the text inside images (OCR) as a later indexing stage")
    ocr_photos: bool = _setting(False, "read photos in full even where the text detector finds no text (slower); "
                                "off: every photo passes the detector and only those with text are read",
                                cli="`imgrag ocr --requeue --photos` does it once")
    ocr_engine: str = _setting("auto", "OCR engine: auto (each kind of image by the engine that reads it best) | "
                               "rapidocr (PP-OCRv6) | tesseract", cli="`imgrag ocr --requeue` reads again with it")
    ocr_languages: str = _setting("eng", "OCR language codes joined with + (e.g. deu+eng): Tesseract's installed "
                                  "packs; RapidOCR reads Latin scripts, Chinese and Japanese with one model "
                                  "(`imgrag doctor` lists what each engine offers)")
    ocr_timeout_s: float = _setting(20.0, "longest OCR of one image of up to 4 MP, in seconds; larger images get "
                                  "proportionally longer, up to 4x")
    ocr_workers: int = _setting(0, "OCR threads; 0: chosen for the machine")
    text_model: str = _setting("all-MiniLM-L6-v2", "sentence-transformers model (name or local folder) that embeds "
                               "OCR text and captions")
    vlm_model: str = _setting("", "local model for answers and captions: a catalogue name or a language-model "
                              ".gguf; empty: none", "Settings › Local model › Model",
                              "`imgrag models use NAME_OR_FILE`, `imgrag models download NAME --use`")
    vlm_mmproj: str = _setting("", "the vision projector .gguf of a vlm_model file; empty: text only",
                               "Settings › Local model › Vision projector",
                               "`imgrag models use FILE --mmproj MMPROJ`")
    vlm_handler: str = _setting("auto", "llama.cpp chat handler: auto | llava15 | llava16 | mtmd | qwen25vl | text",
                                cli="`imgrag models use FILE --handler H`")
    vlm_n_ctx: int = _setting(0, "context length of the local model, in tokens; 0: the catalogue entry's, else 4096")
    vlm_threads: int = _setting(0, "CPU threads of the local model; 0: about the physical cores, at most 8")
    vlm_idle_unload_s: float = _setting(300.0, "seconds without use after which the local model leaves memory; "
                                        "0: never")
    models_idle_unload_s: float = _setting(600.0, "seconds without use after which CLIP and the text model leave "
                                           "memory in the window and `imgrag watch` (loaded again on the next "
                                           "use); 0: never")
    captions_enabled: bool = _setting(False, "caption new pictures with the local model (slow without a GPU)",
                                      "Settings › Local model › Caption new pictures")
    faces_enabled: bool = _setting(True, "find faces and group them into people (a later indexing stage); false "
                                   "deletes every face descriptor and person name", "People tab",
                                   "`imgrag settings set faces_enabled false` deletes them at once")
    faces_detector: str = _setting("auto", "face detector: auto (CNN with a GPU, else HOG) | hog | cnn")
    faces_max_side: int = _setting(1024, "long side, in pixels, an image is scaled to before faces are looked for")
    faces_timeout_s: float = _setting(60.0, "longest face detection of one picture, in seconds (it runs in a child "
                                      "process, which is ended then; the picture is tried again next run, and after a "
                                      "second failure skipped until it changes); 0: no limit")
    people_threshold: float = _setting(0.6, "largest face-descriptor distance at which two faces are the same person")
    people_min_faces: int = _setting(2, "similar faces needed before they form a new person (fewer wait)")
    faces_min_quality: float = _setting(0.3, "faces below this quality (size, sharpness, pose; 0-1) form no person")
    search_mode: str = _setting("hybrid", "how a text query is answered: hybrid | visual | textual | keyword",
                                "Search mode list beside the search bar", "`imgrag search --mode M`")
    weight_visual: float = _setting(1.0, "weight of the image-model list in hybrid search",
                                    cli="`imgrag search --weight-visual W`")
    weight_textual: float = _setting(1.0, "weight of the text-vector list in hybrid search",
                                     cli="`imgrag search --weight-textual W`")
    weight_keyword: float = _setting(1.0, "weight of the keyword list in hybrid search",
                                     cli="`imgrag search --weight-keyword W`")
    min_score: float | None = _setting(None, "relevance cut-off: null: the model's calibrated one; -1 or less: off; "
                                       "else hits scoring below it are hidden",
                                       "filter bar › Relevance (Auto / Off / At least)",
                                       "`imgrag search --min-score X|auto|off` (auto reads this setting)")
    tiles: str = _setting("auto", "embed large images also as tiles: auto (long diagrams, plans, screenshots) | all | "
                          "off")
    gui: dict[str, Any] = _setting(doc="the window's own choices: see the gui.* rows", factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._absorb_extra()

    def _absorb_extra(self) -> None:
        """A key in `extra` that names a field is that field's value: settings that became
        fields were once read from there, and code that still writes them there keeps working."""
        for name in [k for k in self.extra if k in _FIELD_TYPES]:
            setattr(self, name, _checked(name, self.extra.pop(name), _FIELD_TYPES[name], _field_default(name)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        nested = data.get("extra", {}) or {}
        if not isinstance(nested, dict):
            raise TypeError("'extra' is not a JSON object")
        top = {k: v for k, v in data.items() if k != "extra"}
        # A hand-written nested "extra" block: its unknown keys win (as they always did), a field
        # set at the top level wins over the same key nested.
        raw = {**top, **{k: v for k, v in nested.items() if k not in _FIELD_TYPES or k not in top}}
        known = {k: _checked(k, v, _FIELD_TYPES[k], _field_default(k)) for k, v in raw.items() if k in _FIELD_TYPES}
        extra = {k: v for k, v in raw.items() if k not in _FIELD_TYPES}
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        self._absorb_extra()
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}


_FIELD_TYPES: dict[str, Any] = {k: v for k, v in get_type_hints(Settings).items() if k != "extra"}
_WINDOW_TYPES: dict[str, Any] = get_type_hints(WindowSettings)


def _field_default(name: str, cls: type = Settings) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    factory: Any = f.default_factory
    return f.default if factory is dataclasses.MISSING else factory()


def _fits(tp: Any, value: Any) -> bool:
    """Whether a value read from JSON has the field's type (an int is a float, a bool is no int)."""
    if tp is Any:
        return True
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_fits(a, value) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_fits(get_args(tp)[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


def _whole(tp: Any, value: Any) -> Any:
    """1024.0 (as some editors and tools write numbers) is the integer it means."""
    if isinstance(value, float) and value.is_integer() and _fits(tp, int(value)) and not _fits(tp, value):
        return int(value)
    return value


def _checked(name: str, value: Any, tp: Any, default: Any) -> Any:
    """The value if it has the field's type, else the default (logged: a hand-edited or
    foreign settings.json must not stop the app from starting)."""
    if name == "gui" and isinstance(value, dict):
        return {k: _checked(f"gui.{k}", v, _WINDOW_TYPES[k], _field_default(k, WindowSettings))
                if k in _WINDOW_TYPES else v for k, v in value.items()}
    value = _whole(tp, value)
    if _fits(tp, value):
        return value
    if get_origin(tp) is list and isinstance(value, list):
        kept = [v for v in value if _fits(get_args(tp)[0], v)]
        log.warning("settings.json: ignoring %d entries of %s that are not %s", len(value) - len(kept), name,
                    _type_name(get_args(tp)[0]))
        return kept
    log.warning("settings.json: %s should be %s, not %r; using the default %r", name, _type_name(tp), value, default)
    return default


def _type_name(tp: Any) -> str:
    if get_origin(tp) is None and isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def setting_names() -> list[str]:
    """Every setting a user can set by name (the window's own `gui` block is not one)."""
    return [k for k in _FIELD_TYPES if k != "gui"]


def parse_setting(name: str, text: str) -> Any:
    """A value typed on a command line, as the setting's type: text for a text setting, JSON for
    the rest (`true`, `0.3`, `null`, `["/a"]`). ImgragError (one line, what fits) otherwise."""
    from imgrag_desktop.types import ImgragError

    if name not in setting_names():
        raise ImgragError(f"no setting {name!r}: `imgrag settings list` shows them all (docs/settings.md)")
    tp = _FIELD_TYPES[name]
    if _fits(tp, text):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    value = _whole(tp, value)
    if not _fits(tp, value):
        raise ImgragError(f"{name} takes {_type_name(tp)}, not {text!r}")
    return value


def settings_table() -> str:
    """docs/settings.md: every setting with its type, default, meaning, and where to set it."""
    lines = [
        "# Settings",
        "",
        "Every setting lives in `settings.json` in the data dir (`imgrag status` prints where that is).",
        "`imgrag settings list` shows them, `imgrag settings set NAME VALUE` changes one (checked against",
        "its type: text for a text setting, JSON for the others) and `imgrag settings reset NAME` restores",
        "its default; the `gui.*` rows are the window's own and are set there.",
        "Keys this release does not know are kept when the app saves, and a value of the wrong type is",
        "replaced by the default with a warning. This file is generated by `imgrag_desktop.config.settings_table()`",
        "(a test checks that it is up to date).",
        "",
        "| Setting | Type | Default | What it does | In the window | CLI |",
        "|---|---|---|---|---|---|",
    ]

    def rows(cls: type, prefix: str) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            meta = f.metadata
            default = json.dumps(_field_default(f.name, cls))
            cells = [f"`{prefix}{f.name}`", f"`{_type_name(hints[f.name])}`", f"`{default}`", meta["doc"],
                     meta["window"], meta["cli"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")

    rows(Settings, "")
    rows(WindowSettings, "gui.")
    return "\n".join(lines) + "\n"


def default_data_dir(profile: str = "default") -> Path:
    from platformdirs import user_data_dir

    base = Path(user_data_dir(APP_NAME, appauthor=False))
    return base if profile == "default" else base / f"profile-{profile}"


def location_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "gui.json"


def remembered_data_dir(profile: str) -> str | None:
    """The data dir chosen in the window's Settings for this profile, if any (the CLI follows it)."""
    try:
        data = json.loads(location_file().read_text("utf-8"))
        value = data.get("data_dir", {}).get(profile)
        return str(value) if value else None
    except (OSError, ValueError, AttributeError):
        return None


def remember_data_dir(profile: str, data_dir: str | None) -> Path:
    """Record (or with None, forget) the data dir to use from the next start."""
    path = location_file()
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    dirs = data.setdefault("data_dir", {})
    if data_dir:
        dirs[profile] = str(data_dir)
    else:
        dirs.pop(profile, None)
    write_json(path, data, indent=2, prefix=".gui-")
    return path



@dataclass
class AppConfig:
    """Where this instance keeps its data, which profile it runs, and its settings."""

    data_dir: Path
    profile: str = "default"
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str] | None = None, profile: str | None = None) -> "AppConfig":
        profile = profile or os.environ.get("IMGRAG_PROFILE") or "default"
        if profile not in PROFILES:
            from imgrag_desktop.types import ImgragError

            raise ImgragError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
        if data_dir is None:
            data_dir = os.environ.get("IMGRAG_DATA_DIR") or remembered_data_dir(profile) or default_data_dir(profile)
        cfg = cls(data_dir=Path(data_dir).expanduser().resolve(), profile=profile)
        if cfg.settings_file.exists():
            try:
                cfg.settings = Settings.from_dict(json.loads(cfg.settings_file.read_text("utf-8")))
            except (ValueError, TypeError) as exc:
                from imgrag_desktop.types import ImgragError

                raise ImgragError(f"settings file {cfg.settings_file} is damaged ({exc}); fix or delete it") from exc
        return cfg

    # Paths inside the data dir.
    @property
    def settings_file(self) -> Path:
        return self.data_dir / "settings.json"

    @property
    def db_dir(self) -> Path:
        return self.data_dir / "index.lancedb"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def onnx_dir(self) -> Path:
        """Where the models' ONNX exports are (models/onnx_clip.py): the data dir's, unless
        IMGRAG_ONNX_DIR names another (the test suite shares one among its data dirs)."""
        return Path(os.environ.get("IMGRAG_ONNX_DIR") or self.models_dir / "onnx")

    @property
    def onnx_enabled(self) -> bool:
        """IMGRAG_ONNX_DIR=off: no exports made or used (torch serves everything)."""
        return os.environ.get("IMGRAG_ONNX_DIR", "").lower() != "off"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "writer.lock"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.thumbs_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        """Atomic write: a crash or a full disk mid-save leaves the previous settings intact."""
        write_json(self.settings_file, self.settings.to_dict(), indent=2, sort_keys=True, prefix=".settings-")

    # Effective model choices: the test profile swaps in models that can exist offline.
    def clip_spec(self) -> tuple[str, str, str]:
        """(model name, pretrained tag, checkpoint path) that this instance should load."""
        if self.profile == "test":
            return TEST_CLIP_MODEL, "", str(self.models_dir / f"{TEST_CLIP_MODEL}.pt")
        s = self.settings
        return s.clip_model, s.clip_pretrained, s.clip_checkpoint
