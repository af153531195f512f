"""Files written whole or not at all (imgrag_desktop/atomic.py)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from imgrag_desktop.atomic import atomic_file, write_bytes, write_json


def test_write_json_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    dest = tmp_path / "sub" / "settings.json"
    write_json(dest, {"a": 1})
    write_json(dest, {"a": 2, "b": [1, 2]}, sort_keys=True, fsync=True)
    assert json.loads(dest.read_text("utf-8")) == {"a": 2, "b": [1, 2]}
    assert sorted(p.name for p in dest.parent.iterdir()) == ["settings.json"]


def test_a_failure_mid_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    dest = tmp_path / "roots.json"
    write_json(dest, {"old": True})
    with pytest.raises(TypeError):  # a value JSON cannot hold fails half-way through the dump
        write_json(dest, {"ok": 1, "bad": object()})
    assert json.loads(dest.read_text("utf-8")) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["roots.json"]


def test_a_reader_never_sees_a_partial_file(tmp_path):
    dest = tmp_path / "thumb.jpg"
    write_bytes(dest, b"old")
    with atomic_file(dest, "wb") as fh:
        fh.write(b"new-")
        assert dest.read_bytes() == b"old"  # still the old one while the new one is written
        fh.write(b"bytes")
    assert dest.read_bytes() == b"new-bytes"


def test_mode_and_permissions(tmp_path):
    dest = tmp_path / "entry.desktop"
    write_bytes(dest, b"[Desktop Entry]\n", chmod=0o644)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o644
    with pytest.raises(ValueError):
        with atomic_file(dest, "a"):
            pass
    assert dest.read_bytes() == b"[Desktop Entry]\n"
