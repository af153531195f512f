"""What ClipEncoder (models/clip.py) and TextEncoder (models/text.py) share about their two
runtimes: the torch model (`_model`) and an ONNX export on onnxruntime (`_ort`,
models/onnx_clip.py / onnx_text.py), chosen by `runtime` ("auto", "torch" or "onnx")."""

from __future__ import annotations

from typing import Any


class TorchOrOnnx:
    """`runtime`: "auto" serves on a valid export while torch is not loaded in this process,
    "onnx" whenever the export is valid, "torch" never on it."""

    _model: Any
    _ort: Any
    runtime: str

    @property
    def loaded(self) -> bool:
        return self._model is not None or self._ort is not None

    @property
    def runtime_in_use(self) -> str:
        """"torch", "onnx", or "" (nothing loaded yet)."""
        return "torch" if self._model is not None else "onnx" if self._ort is not None else ""

    def _ort_wanted(self) -> bool:
        """Whether an export may serve at all here (the runtime, and what the encoder needs)."""
        return self.runtime != "torch"

    def _ort_may_serve(self) -> bool:
        """Whether an export serves encodes now: wanted, and torch not loaded here unless the
        runtime is "onnx" (in "auto", one process keeps to one runtime once torch is loaded)."""
        return self._ort_wanted() and (self._model is None or self.runtime == "onnx")

    def serves_on_onnx(self) -> bool:
        """Whether encodes will run on a valid ONNX export (checked without opening it)."""
        if self._ort is not None:
            return self._model is None or self.runtime == "onnx"
        return self._ort_may_serve() and self._export_present()

    def _export_present(self) -> bool:
        """Whether a whole, intact export of this model is on disk (no session opened)."""
        raise NotImplementedError
