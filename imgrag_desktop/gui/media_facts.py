"""The preview's media facts of a hit: every file of the item (a RAW+JPEG pair, a Live Photo's
clip), the moment of a video that matched, and the tags, rating and title people wrote."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QLabel

from imgrag_desktop.types import Hit

ROWS = (("moment", "Moment"), ("files", "Files"), ("tags", "Tags"))


def clock(seconds: float | None) -> str:
    s = int(round(seconds or 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def show(facts: dict[str, QLabel], visible: Callable[[str, bool], None], h: Hit) -> None:
    moment = ""
    if h.media == "video" and h.time_s is not None:
        moment = f"{clock(h.time_s)} of {clock(h.duration_s)}" if h.duration_s else clock(h.time_s)
    facts["moment"].setText(moment)
    visible("moment", bool(moment))
    files = [p for p in (h.files or [h.path])]
    facts["files"].setText("\n".join(files) if len(files) > 1 else "")
    visible("files", len(files) > 1)
    bits = []
    if h.title:
        bits.append(h.title)
    if h.rating:
        bits.append("★" * max(0, h.rating) if h.rating > 0 else "rejected")
    if h.label:
        bits.append(h.label)
    if h.tags:
        bits.append(", ".join(t for t in h.tags if "/" not in t) or ", ".join(h.tags))
    facts["tags"].setText(" · ".join(bits))
    facts["tags"].setToolTip(h.description or "")
    visible("tags", bool(bits))
