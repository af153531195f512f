"""`imgrag settings`: what the Settings dialog changes, by name from the command line, checked
against each setting's type and saved where the app reads it."""

from __future__ import annotations

import json

from imgrag_desktop.config import AppConfig, Settings, setting_names
from tests.conftest import run_cli


def _json(proc):
    return json.loads(proc.stdout)


def test_list_get_set_reset_round_trip(tmp_path):
    data = tmp_path / "data"
    listed = _json(run_cli("settings", "list", "--json", data_dir=data))
    assert list(listed) == setting_names() and listed["ocr_photos"] is False

    out = _json(run_cli("settings", "set", "ocr_photos", "true", "--json", data_dir=data))
    assert out == {"name": "ocr_photos", "value": True, "previous": False}
    run_cli("settings", "set", "weight_keyword", "0.5", data_dir=data)
    run_cli("settings", "set", "clip_model", "123", data_dir=data)  # a text setting keeps the text
    run_cli("settings", "set", "min_score", "null", data_dir=data)
    saved = AppConfig.load(data, "test").settings
    assert (saved.ocr_photos, saved.weight_keyword, saved.clip_model, saved.min_score) == (True, 0.5, "123", None)
    assert _json(run_cli("settings", "get", "ocr_photos", "--json", data_dir=data)) == {"name": "ocr_photos",
                                                                                       "value": True}

    run_cli("settings", "reset", "ocr_photos", data_dir=data)
    assert AppConfig.load(data, "test").settings.ocr_photos is Settings().ocr_photos


def test_a_wrong_value_or_name_is_one_line_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    run_cli("settings", "set", "vlm_n_ctx", "2048", data_dir=data)
    bad = run_cli("settings", "set", "vlm_n_ctx", "lots", data_dir=data, check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "imgrag: vlm_n_ctx takes int, not 'lots'"
    unknown = run_cli("settings", "get", "no_such_setting", data_dir=data, check=False)
    assert unknown.returncode == 1 and "no setting 'no_such_setting'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert AppConfig.load(data, "test").settings.vlm_n_ctx == 2048


def test_unknown_keys_of_another_release_survive_a_set(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"from_a_newer_release": {"x": 1}, "ocr_languages": "deu"}))
    run_cli("settings", "set", "ocr_languages", "deu+eng", data_dir=data)
    saved = json.loads((data / "settings.json").read_text())
    assert saved["from_a_newer_release"] == {"x": 1} and saved["ocr_languages"] == "deu+eng"
