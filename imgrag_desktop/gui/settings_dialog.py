"""Settings: the CLIP model (name + tag, or a local checkpoint), device, data dir and view
choices. Values are checked before the dialog closes; nothing is applied half-way."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from imgrag_desktop.config import AppConfig

MODEL_SUGGESTIONS = ["ViT-B-32-256", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14", "MobileCLIP-S2", "RN50"]
DEVICES = ["auto", "cpu", "cuda", "mps"]


@dataclass
class SettingsValues:
    clip_model: str
    clip_pretrained: str
    clip_checkpoint: str
    device: str
    data_dir: str
    results_limit: int
    rescan_on_start: bool


def validate(values: SettingsValues) -> str:
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
    d = Path(values.data_dir).expanduser()
    if not values.data_dir.strip():
        return "Choose a data directory."
    if d.exists() and not d.is_dir():
        return f"{d} is a file, not a folder."
    parent = d if d.exists() else next((q for q in d.parents if q.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        return f"{d} cannot be written to."
    return ""


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
        browse_ckpt = QPushButton("Browse…", self)
        browse_ckpt.clicked.connect(self._browse_checkpoint)
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.checkpoint, 1)
        ck_row.addWidget(browse_ckpt)
        self.device = QComboBox(self)
        self.device.addItems(DEVICES)
        self.device.setCurrentText(s.device if s.device in DEVICES else "auto")
        form.addRow("Model name", self.model)
        form.addRow("Pretrained tag", self.pretrained)
        form.addRow("Local checkpoint", ck_row)
        form.addRow("Device", self.device)
        hint = QLabel("Changing the model means re-indexing: vectors of different models are never compared.", self)
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(hint)
        if cfg.profile == "test":
            note = QLabel("Test profile: the tiny offline test model is used whatever is set here.", self)
            note.setWordWrap(True)
            form.addRow(note)
        outer.addWidget(model_box)

        data_box = QGroupBox("Storage", self)
        dform = QFormLayout(data_box)
        self.data_dir = QLineEdit(str(cfg.data_dir), self)
        browse_dir = QPushButton("Browse…", self)
        browse_dir.clicked.connect(self._browse_data_dir)
        d_row = QHBoxLayout()
        d_row.addWidget(self.data_dir, 1)
        d_row.addWidget(browse_dir)
        dform.addRow("Data directory", d_row)
        dnote = QLabel("Holds the index, thumbnails and settings. A new location is used from the next start.", self)
        dnote.setWordWrap(True)
        dnote.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        dform.addRow(dnote)
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

        self.error = QLabel(self)
        self.error.setObjectName("settings-error")
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self.buttons = buttons

    def values(self) -> SettingsValues:
        ckpt = self.checkpoint.text().strip()
        return SettingsValues(
            clip_model=self.model.currentText().strip(),
            clip_pretrained=self.pretrained.text().strip(),
            clip_checkpoint=str(Path(ckpt).expanduser().resolve()) if ckpt else "",
            device=self.device.currentText(),
            data_dir=str(Path(self.data_dir.text().strip()).expanduser().resolve()) if self.data_dir.text().strip() else "",
            results_limit=self.results_limit.value(),
            rescan_on_start=self.rescan.isChecked(),
        )

    def accept(self) -> None:
        problem = validate(self.values())
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        super().accept()

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CLIP checkpoint", self.checkpoint.text() or str(Path.home()),
                                              "Checkpoints (*.pt *.pth *.bin *.safetensors);;All files (*)")
        if path:
            self.checkpoint.setText(path)

    def _browse_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data directory", self.data_dir.text() or str(Path.home()))
        if path:
            self.data_dir.setText(path)
