"""Settings: the CLIP model (name + tag, or a local checkpoint), device, the local model for
answers and captions, data dir and view choices. Values are checked before the dialog closes;
nothing is applied half-way."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui.wrap_label import WrapLabel
from imgrag_desktop.models.clip import PRECISIONS, pick_precision

MODEL_SUGGESTIONS = ["ViT-B-32-256", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14", "MobileCLIP-S2", "RN50"]
DEVICES = ["auto", "cpu", "cuda", "mps"]
ERROR_STYLE = "color: #c62828;"


@dataclass
class SettingsValues:
    clip_model: str
    clip_pretrained: str
    clip_checkpoint: str
    device: str
    data_dir: str
    results_limit: int
    rescan_on_start: bool
    vlm_model: str = ""  # a catalogue name or a language-model .gguf ("" for none)
    vlm_mmproj: str = ""  # the vision projector .gguf of a file in vlm_model ("" for text only)
    captions_enabled: bool = False
    precision: str = "auto"
    ocr_engine: str = "auto"  # models/ocr.py ENGINES
    ocr_languages: str = "eng"


def is_model_file(value: str) -> bool:
    """A vlm_model value naming a file rather than a catalogue entry (as the registry reads it)."""
    return os.sep in value or "/" in value or value.lower().endswith(".gguf")


def validate_vlm(values: SettingsValues, cfg: AppConfig | None = None, read_headers: bool = True) -> str:
    """'' when the local-model choice can be used (headers checked, nothing loaded). Without
    `read_headers` only what is quick is checked (names, files present): reading the GGUF
    headers (`check_model_files`) reads whole metadata blocks, for a worker thread."""
    from imgrag_desktop.models import registry

    model, mmproj = values.vlm_model.strip(), values.vlm_mmproj.strip()
    if not model:
        return "Choose the language model (.gguf) that belongs to the vision projector, or clear the projector." \
            if mmproj else ""
    if not is_model_file(model):
        entry = registry.catalogue_entry(model)
        if entry is None:
            names = ", ".join(e.name for e in registry.CATALOGUE)
            return f"{model!r} is neither a model file nor a catalogue name ({names})."
        if mmproj:
            return f"{entry.name} comes with its own projector: clear the vision projector field."
        if cfg is not None and not registry.entry_installed(cfg, entry):
            return f"Model {entry.name} is not downloaded yet: download it in File → Models… first."
        return ""
    p = Path(model).expanduser()
    if not p.is_file():
        return f"The model file {p} does not exist."
    if mmproj and not Path(mmproj).expanduser().is_file():
        return f"The vision projector file {Path(mmproj).expanduser()} does not exist."
    return check_model_files(model, mmproj) if read_headers else ""


def check_model_files(model: str, mmproj: str) -> str:
    """'' when the GGUF pair's headers belong together (a language model and its projector)."""
    from imgrag_desktop.types import ImgragError

    p = Path(model).expanduser()
    try:
        from imgrag_desktop.models.gguf_info import check_pair, read_gguf

        check_pair(read_gguf(p), read_gguf(Path(mmproj).expanduser()) if mmproj else None)
    except ImgragError as exc:
        text = str(exc).strip()
        return (text[:1].upper() + text[1:]).rstrip(".") + "."
    return ""


def validate(values: SettingsValues, cfg: AppConfig | None = None, read_headers: bool = True) -> str:
    """'' when the values can be applied, else one line saying what to fix."""
    if not values.clip_model.strip():
        return "Enter a CLIP model name (for example ViT-B-32-256)."
    if values.clip_checkpoint:
        p = Path(values.clip_checkpoint).expanduser()
        if not p.is_file():
            return f"The checkpoint file {p} does not exist."
    elif not values.clip_pretrained.strip():
        return "Enter a pretrained tag, or choose a local checkpoint file."
    if values.device not in DEVICES:
        return f"Unknown device {values.device!r}."
    if values.precision not in PRECISIONS:
        return f"Unknown precision {values.precision!r}."
    ocr_problem = validate_ocr(values)
    if ocr_problem:
        return ocr_problem
    if values.device != "auto":  # "auto" may find a GPU: any precision can apply
        from imgrag_desktop.types import ImgragError

        try:
            pick_precision(values.device, values.precision)
        except ImgragError as exc:
            return f"{str(exc)[:1].upper()}{str(exc)[1:]}."
    d = Path(values.data_dir).expanduser()
    if not values.data_dir.strip():
        return "Choose a data directory."
    if d.exists() and not d.is_dir():
        return f"{d} is a file, not a folder."
    parent = d if d.exists() else next((q for q in d.parents if q.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        return f"{d} cannot be written to."
    if cfg is not None and (values.vlm_model, values.vlm_mmproj) == (cfg.settings.vlm_model, cfg.settings.vlm_mmproj):
        return ""  # unchanged: a model gone since is reported when asking, not a reason to block other settings
    return validate_vlm(values, cfg, read_headers)


def validate_ocr(values: SettingsValues) -> str:
    """'' when the OCR engine and languages can go together (no engine is started here)."""
    from imgrag_desktop.models.ocr import ENGINES
    from imgrag_desktop.models.ocr_detect import recognition_model
    from imgrag_desktop.types import ImgragError

    if values.ocr_engine not in ENGINES:
        return f"Unknown OCR engine {values.ocr_engine!r}."
    if not values.ocr_languages.strip():
        return "Enter the OCR languages (for example eng, or deu+eng)."
    if values.ocr_engine == "rapidocr":
        try:
            recognition_model(values.ocr_languages)
        except ImgragError as exc:
            return f"{str(exc)[:1].upper()}{str(exc)[1:]}."
    return ""


def apply_values(cfg: AppConfig, state: dict[str, Any], values: SettingsValues) -> tuple[bool, bool]:
    """Copy accepted values into the settings and the window's state. Returns (the CLIP model
    changed: re-index, the model must be reloaded); another precision gives the same vectors
    to ~1e-4, so it reloads without re-indexing."""
    s = cfg.settings
    before = (s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device)
    precision_before = s.precision
    s.clip_model, s.clip_pretrained = values.clip_model, values.clip_pretrained
    s.clip_checkpoint, s.device = values.clip_checkpoint, values.device
    s.precision = values.precision
    # The VLM slot picks up a changed model at the next question or caption (no reload here).
    s.vlm_model, s.vlm_mmproj, s.captions_enabled = values.vlm_model, values.vlm_mmproj, values.captions_enabled
    # Another engine or languages: the next OCR run reads the library again in the background.
    s.ocr_engine, s.ocr_languages = values.ocr_engine, values.ocr_languages.strip()
    state["results_limit"] = int(values.results_limit)
    state["rescan_on_start"] = bool(values.rescan_on_start)
    model_changed = before != (s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device)
    return model_changed, model_changed or precision_before != s.precision


def needs_header_check(values: SettingsValues, cfg: AppConfig | None = None) -> bool:
    """A changed local-model choice naming files: their GGUF headers must be read."""
    if cfg is not None and (values.vlm_model, values.vlm_mmproj) == (cfg.settings.vlm_model, cfg.settings.vlm_mmproj):
        return False
    return is_model_file(values.vlm_model.strip())


class _CheckSignals(QObject):
    done = Signal(object, str)  # the values checked, '' or what to fix


class _HeaderCheck(QRunnable):
    """Reads the GGUF headers on a pool thread (a network drive or a large file must not
    freeze the dialog) and reports to the dialog's thread."""

    def __init__(self, values: SettingsValues, signals: _CheckSignals) -> None:
        super().__init__()
        self.values = values
        self.signals = signals

    def run(self) -> None:
        try:
            problem = check_model_files(self.values.vlm_model.strip(), self.values.vlm_mmproj.strip())
        except Exception as exc:  # an unreadable file: say so in the dialog, never a traceback
            problem = f"Cannot read the model files: {exc}."
        try:
            self.signals.done.emit(self.values, problem)
        except RuntimeError:  # the dialog closed meanwhile
            pass


class SettingsDialog(QDialog):
    def __init__(self, cfg: AppConfig, results_limit: int, rescan_on_start: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.cfg = cfg
        s = cfg.settings
        outer = QVBoxLayout(self)

        model_box = QGroupBox("Image model (CLIP)", self)
        form = QFormLayout(model_box)
        self.model = QComboBox(self)
        self.model.setEditable(True)
        self.model.addItems(MODEL_SUGGESTIONS)
        self.model.setCurrentText(s.clip_model)
        self.pretrained = QLineEdit(s.clip_pretrained, self)
        self.pretrained.setPlaceholderText("e.g. datacomp_s34b_b86k")
        self.checkpoint = QLineEdit(s.clip_checkpoint, self)
        self.checkpoint.setPlaceholderText("optional: a local .pt / .safetensors file instead of a tag")
        ck_row = self._with_browse(self.checkpoint, self._browse_checkpoint)
        self.device = QComboBox(self)
        self.device.addItems(DEVICES)
        self.device.setCurrentText(s.device if s.device in DEVICES else "auto")
        form.addRow("Model name", self.model)
        form.addRow("Pretrained tag", self.pretrained)
        form.addRow("Local checkpoint", ck_row)
        form.addRow("Device", self.device)
        self.precision = QComboBox(self)
        self.precision.addItems(PRECISIONS)
        self.precision.setCurrentText(s.precision if s.precision in PRECISIONS else "auto")
        self.precision.setToolTip("auto: fp16 on a GPU, bf16 on CPUs that compute it natively (about 3x faster "
                                  "than fp32), else fp32. Vectors stay comparable: no re-indexing needed.")
        form.addRow("Precision", self.precision)
        hint = WrapLabel("Changing the model means re-indexing: vectors of different models are never compared.",
                         self, hint=True)
        form.addRow(hint)
        if cfg.profile == "test":
            note = WrapLabel("Test profile: the tiny offline test model is used whatever is set here.", self)
            form.addRow(note)
        outer.addWidget(model_box)
        outer.addWidget(self._build_vlm_box(cfg))
        outer.addWidget(self._build_ocr_box(cfg))

        data_box = QGroupBox("Storage", self)
        dform = QFormLayout(data_box)
        self.data_dir = QLineEdit(str(cfg.data_dir), self)
        d_row = self._with_browse(self.data_dir, self._browse_data_dir)
        dform.addRow("Data directory", d_row)
        dnote = WrapLabel("Holds the index, thumbnails and settings. A new location is used from the next start.",
                          self, hint=True)
        dform.addRow(dnote)
        from imgrag_desktop.gui.index_check import IndexCheckRow

        self.index_check = IndexCheckRow(cfg, self)
        dform.addRow("Index", self.index_check)
        outer.addWidget(data_box)

        view_box = QGroupBox("Searching", self)
        vform = QFormLayout(view_box)
        self.results_limit = QSpinBox(self)
        self.results_limit.setRange(10, 10_000)
        self.results_limit.setSingleStep(50)
        self.results_limit.setValue(int(results_limit))
        self.rescan = QCheckBox("Check indexed folders for new and changed images at start", self)
        self.rescan.setChecked(bool(rescan_on_start))
        vform.addRow("Results per search", self.results_limit)
        vform.addRow(self.rescan)
        outer.addWidget(view_box)

        self.error = WrapLabel("", self)
        self.error.setObjectName("settings-error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self.buttons = buttons
        self._checking: SettingsValues | None = None  # the values whose GGUF headers are being read
        self._check_signals = _CheckSignals(self)
        self._check_signals.done.connect(self._on_checked)

    def _with_browse(self, field: QWidget, browse: Callable[[], None]) -> QHBoxLayout:
        """A field with a Browse… button beside it."""
        button = QPushButton("Browse…", self)
        button.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(button)
        return row

    def values(self) -> SettingsValues:
        ckpt = self.checkpoint.text().strip()
        mmproj = self.vlm_mmproj.text().strip()
        return SettingsValues(
            clip_model=self.model.currentText().strip(),
            clip_pretrained=self.pretrained.text().strip(),
            clip_checkpoint=str(Path(ckpt).expanduser().resolve()) if ckpt else "",
            device=self.device.currentText(),
            precision=self.precision.currentText(),
            data_dir=str(Path(self.data_dir.text().strip()).expanduser().resolve()) if self.data_dir.text().strip() else "",
            results_limit=self.results_limit.value(),
            rescan_on_start=self.rescan.isChecked(),
            vlm_model=_file_or_name(self.vlm_model.currentText().strip()),
            vlm_mmproj=str(Path(mmproj).expanduser().resolve()) if mmproj else "",
            captions_enabled=self.captions.isChecked(),
            ocr_engine=self.ocr_engine.currentText(),
            ocr_languages=self.ocr_languages.text().strip(),
        )

    def _build_ocr_box(self, cfg: AppConfig) -> QGroupBox:
        from imgrag_desktop.models.ocr import ENGINES
        from imgrag_desktop.models.ocr_detect import languages_supported

        s = cfg.settings
        box = QGroupBox("Text in images (OCR)", self)
        form = QFormLayout(box)
        self.ocr_engine = QComboBox(self)
        self.ocr_engine.addItems(ENGINES)
        self.ocr_engine.setCurrentText(s.ocr_engine if s.ocr_engine in ENGINES else "auto")
        self.ocr_engine.setToolTip("auto: screenshots by Tesseract, photos, scans and documents by RapidOCR "
                                   "(PP-OCRv6), as measured; either engine alone can be chosen.")
        self.ocr_languages = QLineEdit(s.ocr_languages, self)
        self.ocr_languages.setPlaceholderText("e.g. eng or deu+eng")
        self.ocr_languages.setToolTip("Tesseract: its installed language packs (`imgrag doctor` lists them). "
                                      "RapidOCR: " + ", ".join(languages_supported())
                                      + ". To add a language: docs/models.md, \"OCR models and languages\".")
        form.addRow("Engine", self.ocr_engine)
        form.addRow("Languages", self.ocr_languages)
        return box

    def _build_vlm_box(self, cfg: AppConfig) -> QGroupBox:
        from imgrag_desktop.models import registry

        s = cfg.settings
        box = QGroupBox("Local model for answers and captions", self)
        form = QFormLayout(box)
        self.vlm_model = QComboBox(self)
        self.vlm_model.setEditable(True)
        self.vlm_model.addItem("")
        for e in registry.CATALOGUE:
            state = "downloaded" if registry.entry_installed(cfg, e) else "not downloaded"
            self.vlm_model.addItem(e.name)
            self.vlm_model.setItemData(self.vlm_model.count() - 1, f"{e.title}, about {e.size_mb} MB ({state}): {e.notes}",
                                       Qt.ItemDataRole.ToolTipRole)
        self.vlm_model.setCurrentText(s.vlm_model)
        self.vlm_model.lineEdit().setPlaceholderText("a catalogue name, or a language-model .gguf file")  # type: ignore[union-attr]
        m_row = self._with_browse(self.vlm_model, self._browse_vlm_model)
        self.vlm_mmproj = QLineEdit(s.vlm_mmproj, self)
        self.vlm_mmproj.setPlaceholderText("its vision projector (mmproj-….gguf); empty: text only")
        p_row = self._with_browse(self.vlm_mmproj, self._browse_vlm_mmproj)
        self.captions = QCheckBox("Caption new pictures with this model (slow without a GPU)", self)
        self.captions.setChecked(bool(s.captions_enabled))
        form.addRow("Model", m_row)
        form.addRow("Vision projector", p_row)
        form.addRow(self.captions)
        hint = WrapLabel("Download one once in File → Models… (Ctrl+Shift+M), or pick local GGUF files. "
                         "No projector: answers from the text in the pictures only.", self, hint=True)
        form.addRow(hint)
        if cfg.profile == "test":
            note = WrapLabel("Test profile: with no model set, a tiny random test model answers.", self)
            form.addRow(note)
        return box

    def _browse_vlm_model(self) -> None:
        start = self.vlm_model.currentText() if is_model_file(self.vlm_model.currentText()) else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Language model", start, "GGUF models (*.gguf);;All files (*)")
        if path:
            self.vlm_model.setCurrentText(path)

    def _browse_vlm_mmproj(self) -> None:
        start = self.vlm_mmproj.text() or (os.path.dirname(self.vlm_model.currentText())
                                           if is_model_file(self.vlm_model.currentText()) else str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Vision projector", start, "GGUF projectors (*.gguf);;All files (*)")
        if path:
            self.vlm_mmproj.setText(path)

    def accept(self) -> None:
        values = self.values()
        problem = validate(values, self.cfg, read_headers=False)
        if problem:
            self._show_problem(problem)
            return
        if not needs_header_check(values, self.cfg):
            super().accept()
            return
        self._checking = values
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.error.setText("Checking the model files…")
        self.error.setStyleSheet("")
        self.error.show()
        QThreadPool.globalInstance().start(_HeaderCheck(values, self._check_signals))

    def _on_checked(self, values: SettingsValues, problem: str) -> None:
        if values is not self._checking:
            return  # an older check
        self._checking = None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        if values != self.values():
            self.error.hide()  # edited while it was checked: OK checks the new values
        elif problem:
            self._show_problem(problem)
        else:
            self.error.hide()
            super().accept()

    def _show_problem(self, problem: str) -> None:
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setText(problem)
        self.error.show()

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CLIP checkpoint", self.checkpoint.text() or str(Path.home()),
                                              "Checkpoints (*.pt *.pth *.bin *.safetensors);;All files (*)")
        if path:
            self.checkpoint.setText(path)

    def _browse_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data directory", self.data_dir.text() or str(Path.home()))
        if path:
            self.data_dir.setText(path)


def _file_or_name(value: str) -> str:
    """A model file as an absolute path; a catalogue name as typed (lower case)."""
    if not value:
        return ""
    return str(Path(value).expanduser().resolve()) if is_model_file(value) else value.lower()
