"""models/runtimes.py: which runtime an encoder serves on, shared by ClipEncoder and TextEncoder."""

from __future__ import annotations

from typing import Any

import pytest

from imgrag_desktop.models.clip import ClipEncoder
from imgrag_desktop.models.runtimes import TorchOrOnnx
from imgrag_desktop.models.text import TextEncoder


class Encoder(TorchOrOnnx):
    def __init__(self, runtime: str, model: Any = None, ort: Any = None, export: bool = True) -> None:
        self.runtime, self._model, self._ort, self.export = runtime, model, ort, export

    def _export_present(self) -> bool:
        return self.export


@pytest.mark.parametrize(("runtime", "model", "ort", "export", "serves", "in_use"), [
    ("auto", None, None, True, True, ""),
    ("auto", None, None, False, False, ""),
    ("auto", "torch model", None, True, False, "torch"),  # one process keeps to torch once loaded
    ("onnx", "torch model", None, True, True, "torch"),
    ("torch", None, None, True, False, ""),
    ("auto", None, "session", False, True, "onnx"),
    ("auto", "torch model", "session", True, False, "torch"),
    ("onnx", "torch model", "session", True, True, "torch"),
])
def test_which_runtime_serves(runtime: str, model: Any, ort: Any, export: bool, serves: bool, in_use: str) -> None:
    enc = Encoder(runtime, model, ort, export)
    assert enc.serves_on_onnx() is serves
    assert enc.runtime_in_use == in_use
    assert enc.loaded is (model is not None or ort is not None)


def test_both_encoders_share_it_and_clip_names_its_query_load(tmp_path: Any) -> None:
    assert ClipEncoder.load is ClipEncoder.load_for_queries
    clip = ClipEncoder("imgrag-tiny", checkpoint=str(tmp_path / "none.pt"), runtime="torch", onnx_root=tmp_path)
    text = TextEncoder(runtime="auto", onnx_root=tmp_path)
    for enc in (clip, text):
        assert isinstance(enc, TorchOrOnnx) and not enc.loaded and enc.runtime_in_use == ""
    assert not clip.serves_on_onnx()  # runtime torch
    assert not text.serves_on_onnx()  # no export in tmp_path
