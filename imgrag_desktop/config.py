"""Settings and where things live on disk.

The data dir holds everything the app writes (database, thumbnails, caches, generated test
models, settings.json). Nothing is ever written inside an indexed folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "imgrag-desktop"
PROFILES = ("default", "test")

# The tiny CLIP of the test profile: a real open_clip architecture, random weights, fixed seed.
TEST_CLIP_MODEL = "imgrag-tiny"


@dataclass
class Settings:
    """User settings, persisted as JSON in the data dir. Unknown keys are kept on save."""

    folders: list[str] = field(default_factory=list)
    # CLIP: open_clip model name + pretrained tag, or a local checkpoint file.
    clip_model: str = "ViT-B-32-256"
    clip_pretrained: str = "datacomp_s34b_b86k"
    clip_checkpoint: str = ""
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32) | fp32 | bf16 | fp16
    batch_size: int = 0  # 0: chosen for the device
    decode_workers: int = 0  # 0: chosen for the machine
    ignore_hidden: bool = True
    # Text inside images.
    ocr_enabled: bool = True
    ocr_photos: bool = False
    ocr_languages: str = "eng"
    ocr_timeout_s: float = 20.0
    ocr_workers: int = 0
    text_model: str = "all-MiniLM-L6-v2"
    # Local vision-language model.
    vlm_model: str = ""
    vlm_mmproj: str = ""
    vlm_handler: str = "auto"
    captions_enabled: bool = False
    # Search.
    search_mode: str = "hybrid"
    weight_visual: float = 1.0
    weight_textual: float = 1.0
    weight_keyword: float = 1.0
    min_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names and k != "extra"}
        extra = {k: v for k, v in data.items() if k not in names}
        extra.update(data.get("extra", {}) or {})
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gui-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
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
    def lock_file(self) -> Path:
        return self.data_dir / "writer.lock"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.thumbs_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        """Atomic write: a crash mid-save leaves the previous settings intact."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=self.data_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.settings.to_dict(), fh, indent=2, sort_keys=True)
            os.replace(tmp, self.settings_file)
        except BaseException:  # a full disk must not leave a stray temp file behind
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # Effective model choices: the test profile swaps in models that can exist offline.
    def clip_spec(self) -> tuple[str, str, str]:
        """(model name, pretrained tag, checkpoint path) that this instance should load."""
        if self.profile == "test":
            return TEST_CLIP_MODEL, "", str(self.models_dir / f"{TEST_CLIP_MODEL}.pt")
        s = self.settings
        return s.clip_model, s.clip_pretrained, s.clip_checkpoint
