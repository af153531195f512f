"""Every menu command of the window, with its keys, in one list.

The menus, the window's shortcuts and the Help → Keyboard shortcuts table are all built from
`ACTIONS` (plus the few `GESTURES` that are not menu commands), so a key added or changed here
is changed everywhere at once and the table can never list a key that does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from imgrag_desktop.gui import dialogs
from imgrag_desktop.gui.ask_panel import ask_shortcuts

Std = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    """One menu command. `slot` is a dotted attribute path on the window ("close",
    "filters_button.setChecked"); `help` is its line in the shortcuts table ("" = not listed),
    `also` other ways to do the same thing named before its keys there (a double-click, say)."""

    name: str  # the window attribute that holds the QAction ("" for none)
    menu: str
    text: str
    slot: str
    keys: tuple[Any, ...] = ()  # QKeySequence.StandardKey values and key strings
    tip: str = ""
    checkable: bool = False
    help: str = ""
    also: str = ""
    separator: bool = False  # a separator before it


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("act_add", "&File", "&Add folder…", "add_folder_dialog", (Std.Open,), "Add a folder to the index",
               help="add a folder"),
    ActionSpec("act_similar_file", "&File", "Find images like a &file…", "page.similar_file_dialog", ("Ctrl+Shift+O",),
               help="find images like a file"),
    ActionSpec("act_paste", "&File", "&Paste image", "page.paste", (Std.Paste,),
               "Find images that look like the image on the clipboard", help="find images like the one on the clipboard"),
    ActionSpec("act_rescan", "&File", "&Rescan folders", "rescan", ("F5",), help="rescan folders"),
    ActionSpec("act_pause_watch", "&File", "Pause &watching folders", "set_watch_paused", checkable=True,
               tip="Stop indexing changes in the folders until unchecked"),
    ActionSpec("act_settings", "&File", "&Settings…", "open_settings", (Std.Preferences, "Ctrl+,"), help="settings",
               separator=True),
    ActionSpec("act_models", "&File", "&Models…", "open_models", ("Ctrl+Shift+M",),
               "CLIP and vision-language models: download, pause, use local files", help="models"),
    ActionSpec("act_quit", "&File", "&Quit", "close", (Std.Quit, "Ctrl+Q"), help="quit", separator=True),
    ActionSpec("act_find", "&Edit", "&Find", "focus_search", (Std.Find, "Ctrl+L"), help="search"),
    ActionSpec("act_clear", "&Edit", "&Clear search", "clear_search", ("Esc",), help="clear the search"),
    ActionSpec("act_copy_path", "&Edit", "Copy &path", "page.copy_selected_paths", ("Ctrl+Shift+C",),
               help="copy the selected paths"),
    ActionSpec("act_open", "&Edit", "&Open with the system viewer", "open_current", ("Ctrl+Return",),
               help="open with the system viewer"),
    ActionSpec("act_ask", "&Edit", "&Ask a question…", "focus_ask", tuple(ask_shortcuts()),
               "Ask the local model about your pictures", help="ask a question (Enter asks, Esc cancels)",
               separator=True),
    ActionSpec("act_preview", "&View", "&Preview panel", "page.set_preview_visible", ("F3",), checkable=True,
               help="show or hide the preview"),
    ActionSpec("act_folders", "&View", "&Folders panel", ""),  # the dock's own toggle action
    ActionSpec("act_errors", "&View", "P&roblems…", "show_errors_panel", ("Ctrl+E",), help="problems"),
    ActionSpec("act_filters", "&View", "F&ilters", "filters_button.setChecked", ("Ctrl+Shift+F",), checkable=True,
               tip="Show or hide the filter bar", help="show or hide the filters"),
    ActionSpec("act_duplicates", "&View", "&Duplicates", "show_duplicates", ("Ctrl+D",),
               "Near-identical copies of the same picture", help="near-duplicates"),
    ActionSpec("act_people", "&View", "P&eople", "show_people", ("Ctrl+Shift+P",),
               "The people in your photos: name, merge, hide", help="people"),
    ActionSpec("act_larger", "&View", "&Larger thumbnails", "page.larger_thumbnails", (Std.ZoomIn, "Ctrl+="),
               help="thumbnail size", separator=True),
    ActionSpec("act_smaller", "&View", "&Smaller thumbnails", "page.smaller_thumbnails", (Std.ZoomOut,),
               help="thumbnail size"),
    ActionSpec("act_shortcuts", "&Help", "&Keyboard shortcuts", "show_shortcuts"),
    ActionSpec("act_about", "&Help", "&About imgrag-desktop", "show_about"),
)

# Ways in that are not menu commands: (keys, what they do, the action they are listed before).
GESTURES: tuple[tuple[str, str, str], ...] = (
    ("Enter", "search now (search bar) or view the picture (grid; also double-click)", "act_clear"),
    ("← → + − 0 1 Esc", "in the viewer: previous, next, zoom in, out, fit, 100 %, back to the grid", "act_clear"),
    ("Drag and drop", "an image: find look-alikes; a folder: index it", "act_add"),
)


def key_sequences(keys: Sequence[Any]) -> list[QKeySequence]:
    """The platform's bindings of standard keys plus the explicit ones, each once (a standard
    key may equal an explicit one)."""
    seqs: dict[str, QKeySequence] = {}
    for key in keys:
        for seq in (QKeySequence.keyBindings(key) if isinstance(key, QKeySequence.StandardKey) else [QKeySequence(key)]):
            if not seq.isEmpty():
                seqs.setdefault(seq.toString(), seq)
    return list(seqs.values())


def _resolve(window: Any, path: str) -> Callable[..., Any]:
    target = window
    for part in path.split("."):
        target = getattr(target, part)
    return target


def build_actions(window: QMainWindow, folders_toggle: QAction) -> dict[str, QAction]:
    """Create the menus and the window's actions from ACTIONS; sets each as `window.<name>`.
    Actions are added to the window too, so their keys work while the menu bar is hidden."""
    menus: dict[str, Any] = {}
    made: dict[str, QAction] = {}
    for spec in ACTIONS:
        menu = menus.get(spec.menu)
        if menu is None:
            menu = menus[spec.menu] = window.menuBar().addMenu(spec.menu)
        if spec.separator:
            menu.addSeparator()
        if spec.name == "act_folders":
            act = folders_toggle
            act.setText(spec.text)
            menu.addAction(act)
        else:
            act = QAction(spec.text, window)
            seqs = key_sequences(spec.keys)
            if seqs:
                act.setShortcuts(seqs)
            if spec.tip:
                act.setStatusTip(spec.tip)
                act.setToolTip(spec.tip)
            act.setCheckable(spec.checkable)
            (act.toggled if spec.checkable else act.triggered).connect(_resolve(window, spec.slot))
            menu.addAction(act)
            window.addAction(act)
        made[spec.name] = act
        setattr(window, spec.name, act)
    return made


def _typed(seq: QKeySequence) -> bool:
    """A key a user types: with a modifier, or a function / Esc / Return key; not the bare
    media keys (Open, Paste, Zoom In) that some platforms' standard bindings add."""
    combo = seq[0]  # type: ignore[index]  # PySide6's stubs miss QKeySequence.__getitem__
    key = combo.key()
    return combo.keyboardModifiers() != Qt.KeyboardModifier.NoModifier or key in _BARE_KEYS \
        or Qt.Key.Key_F1.value <= key.value <= Qt.Key.Key_F35.value


_BARE_KEYS = {Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Delete}


def shortcut_rows(actions: dict[str, QAction]) -> list[tuple[str, str]]:
    """(keys, what they do) for the shortcuts table, read from the actions themselves; actions
    with the same description share a row."""
    rows: dict[str, list[str]] = {}
    before = {name: (keys, text) for keys, text, name in GESTURES}
    for spec in ACTIONS:
        if spec.name in before:
            gesture, text = before[spec.name]
            rows.setdefault(text, []).append(gesture)
        act = actions.get(spec.name)
        if not spec.help or act is None:
            continue
        typed = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts() if _typed(k)]
        rows.setdefault(spec.help, []).extend(([spec.also] if spec.also else []) + typed)
    return [(", ".join(keys), text) for text, keys in rows.items() if keys]


def show_shortcuts(parent: QWidget, actions: dict[str, QAction]) -> None:
    table = "".join(f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(v)}</td></tr>"
                    for k, v in shortcut_rows(actions))
    dialogs.show_message(parent, "Keyboard shortcuts", level="info", informative=f"<table>{table}</table>")
