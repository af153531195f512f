"""`imgrag folders`: the window's folder list and its Remove-folder rule, as a command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from imgrag_desktop.cli import main as cli_main
from tests.conftest import coco_images


def _json(capsys: Any, *args: str) -> Any:
    capsys.readouterr()
    assert cli_main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_and_remove_follow_the_windows_rule(tmp_path: Path, capsys: Any) -> None:
    assert len(coco_images()) >= 5  # coco_images() fails the test when the shared data is missing
    outer = tmp_path / "pics"
    inner = outer / "kept"
    inner.mkdir(parents=True)
    for p in coco_images()[:3]:
        shutil.copy2(p, outer / p.name)
    for p in coco_images()[3:5]:
        shutil.copy2(p, inner / p.name)
    base = ["--data-dir", str(tmp_path / "data"), "--profile", "test"]
    assert cli_main([*base, "index", str(inner), "--quiet"]) == 0
    assert cli_main([*base, "index", str(outer), "--quiet"]) == 0
    listed = _json(capsys, *base, "folders", "list")
    assert [(r["path"], r["images"], r["exists"]) for r in listed] == [(str(inner), 2, True), (str(outer), 5, True)]

    # The outer folder goes; the remembered folder inside it keeps its rows.
    out = _json(capsys, *base, "folders", "remove", str(outer) + "/")
    assert out == {"removed_folder": str(outer), "removed": 3}
    assert [r["path"] for r in _json(capsys, *base, "folders", "list")] == [str(inner)]
    assert _json(capsys, *base, "status")["images"] == 2
    assert all((outer / p.name).is_file() for p in coco_images()[:3])  # the photos stay

    assert cli_main([*base, "folders", "remove", str(tmp_path / "elsewhere")]) == 1
    assert "is not in the library" in capsys.readouterr().err
