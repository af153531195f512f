"""Settings are typed fields: old files still load, unknown keys survive a save, wrong types
fall back to the default with a warning, and docs/settings.md is generated from the fields."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from imgrag_desktop import config
from imgrag_desktop.config import AppConfig, Settings, WindowSettings, settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_every_field_has_a_default_and_a_doc() -> None:
    for cls in (Settings, WindowSettings):
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING, f.name
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"


def test_settings_that_lived_in_extra_load_as_fields(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({
        "tiles": "off", "vlm_n_ctx": 1024, "vlm_threads": 2, "vlm_idle_unload_s": 30,
        "gui": {"rescan_on_start": False, "geometry": "AAAA"},
        "extra": {"vlm_handler": "llava15"},  # a hand-written nested block, as read before
    }))
    s = AppConfig.load(tmp_path, "test").settings
    assert (s.tiles, s.vlm_n_ctx, s.vlm_threads, s.vlm_idle_unload_s, s.vlm_handler) == ("off", 1024, 2, 30, "llava15")
    assert s.gui == {"rescan_on_start": False, "geometry": "AAAA"}
    assert s.extra == {}


def test_a_nested_extra_block_reads_as_before() -> None:
    """Top-level fields win over the same key nested; nested unknown keys win over top-level ones."""
    s = Settings.from_dict({"device": "cuda", "future": 1, "extra": {"device": "cpu", "future": 2, "ocr_photos": True}})
    assert (s.device, s.ocr_photos, s.extra) == ("cuda", True, {"future": 2})


def test_unknown_keys_are_kept_on_save(tmp_path: Path) -> None:
    future = {"some_future_setting": {"x": 1}, "renamed_in_v9": [1, 2]}
    (tmp_path / "settings.json").write_text(json.dumps({**future, "ocr_languages": "deu+eng"}))
    cfg = AppConfig.load(tmp_path, "test")
    assert cfg.settings.extra == future
    cfg.settings.batch_size = 4
    cfg.save()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert {k: saved[k] for k in future} == future
    assert saved["ocr_languages"] == "deu+eng" and saved["batch_size"] == 4 and "extra" not in saved
    again = AppConfig.load(tmp_path, "test").settings
    assert again.extra == future and again.batch_size == 4


def test_a_field_written_into_extra_is_saved_as_the_field(tmp_path: Path) -> None:
    """Code and tests written when these lived in `extra` keep working."""
    cfg = AppConfig.load(tmp_path, "test")
    cfg.settings.extra["vlm_n_ctx"] = 512
    cfg.settings.extra["gui"] = {"rescan_on_start": False}
    cfg.save()
    assert cfg.settings.vlm_n_ctx == 512 and cfg.settings.gui == {"rescan_on_start": False}
    assert cfg.settings.extra == {}
    s = AppConfig.load(tmp_path, "test").settings
    assert s.vlm_n_ctx == 512 and s.gui == {"rescan_on_start": False}


@pytest.mark.parametrize(("key", "bad", "expected"), [
    ("batch_size", "8", 0),
    ("batch_size", True, 0),  # a JSON bool is no number
    ("ocr_enabled", "no", True),
    ("ocr_timeout_s", "slow", 20.0),
    ("min_score", "auto", None),
    ("clip_model", 32, "ViT-B-32-256"),
    ("folders", "/photos", []),
    ("gui", [1, 2], {}),
])
def test_a_wrong_type_falls_back_to_the_default_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                               key: str, bad: object, expected: object) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({key: bad, "decode_workers": 3}))
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        s = AppConfig.load(tmp_path, "test").settings
    assert getattr(s, key) == expected
    assert s.decode_workers == 3  # the rest of the file still applies
    assert any(key in r.getMessage() for r in caplog.records)


def test_a_whole_float_reads_as_the_integer_it_means(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"vlm_n_ctx": 1024.0, "decode_workers": 2.5}))
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        s = AppConfig.load(tmp_path, "test").settings
    assert s.vlm_n_ctx == 1024 and isinstance(s.vlm_n_ctx, int)
    assert s.decode_workers == Settings().decode_workers  # 2.5 workers means nothing: the default
    assert [r for r in caplog.records if "decode_workers" in r.getMessage()]
    assert not [r for r in caplog.records if "vlm_n_ctx" in r.getMessage()]


def test_right_types_pass_unchanged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = {"weight_visual": 2, "min_score": 0.25, "folders": ["/a", "/b"], "ignore_hidden": False}
    (tmp_path / "settings.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        s = AppConfig.load(tmp_path, "test").settings
    assert (s.weight_visual, s.min_score, s.folders, s.ignore_hidden) == (2, 0.25, ["/a", "/b"], False)
    assert not caplog.records


def test_bad_entries_of_a_list_and_of_the_window_block_are_dropped_alone(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({
        "folders": ["/a", 7, "/b"], "gui": {"thumb_size": "big", "results_limit": 50, "splitter": "xyz"}}))
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        s = AppConfig.load(tmp_path, "test").settings
    assert s.folders == ["/a", "/b"]
    assert s.gui == {"thumb_size": 160, "results_limit": 50, "splitter": "xyz"}
    assert len(caplog.records) == 2


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"a string"', '{"extra": 5}'])
def test_a_damaged_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    from imgrag_desktop.types import ImgragError

    (tmp_path / "settings.json").write_text(text)
    with pytest.raises(ImgragError, match="settings file .* is damaged"):
        AppConfig.load(tmp_path, "test")


def test_the_window_defaults_come_from_the_typed_block() -> None:
    from imgrag_desktop.gui.state import DEFAULTS, gui_state

    assert DEFAULTS == dataclasses.asdict(WindowSettings())
    cfg = AppConfig(data_dir=Path("/nonexistent"), profile="test")
    state = gui_state(cfg)
    assert state is cfg.settings.gui and state["results_limit"] == 500


def test_docs_settings_md_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text("utf-8")
    assert doc == settings_table(), (
        "docs/settings.md is out of date: regenerate it with "
        "python -c \"from imgrag_desktop.config import settings_table; "
        "open('docs/settings.md', 'w').write(settings_table())\"")


def test_the_table_lists_every_setting() -> None:
    table = settings_table()
    for f in dataclasses.fields(Settings):
        if f.name != "extra":
            assert f"| `{f.name}` |" in table
    for f in dataclasses.fields(WindowSettings):
        assert f"| `gui.{f.name}` |" in table
