"""The Ask panel's evidence: the checked answer's verdict, the quoted lines under it (each a
link to its picture), and the boxes of those lines for the preview to highlight."""

from __future__ import annotations

import html
import os
from typing import Any, Callable

from imgrag_desktop.types import Answer

VERDICTS = {
    "supported": "The model's answer is in the text of the pictures:",
    "extracted": "The model's answer is in no line of the pictures' text, so the value is read from the evidence:",
    "unknown": "Not answered: nothing in the pictures' text supports an answer.",
    "unchecked": "Not checked against the evidence (the answer was cancelled).",
}


def verdict_html(answer: Answer) -> str:
    line = VERDICTS.get(answer.status, "")
    if not line:
        return ""
    colour = {"supported": "#2e7d32", "extracted": "#ef6c00"}.get(answer.status, "#757575")
    out = f"<p style='color:{colour}; margin-bottom:2px'>{html.escape(line)}</p>"
    if answer.status == "extracted" and answer.model_text:
        out += (f"<p style='color:#757575; margin-top:0'>(the model said: "
                f"<i>{html.escape(answer.model_text[:160])}</i>)</p>")
    return out


def evidence_html(answer: Answer, number_of: Callable[[str], int]) -> str:
    """The evidence lines as quotes, best first; each links (quote:i) to its picture."""
    if not answer.evidence:
        return ""
    rows = []
    quoted = answer.quote or {}
    for i, e in enumerate(answer.evidence):
        n = number_of(str(e.get("path", "")))
        mark = " <b>\u2190 the answer</b>" if (e.get("path") == quoted.get("path")
                                                and e.get("text") == quoted.get("text")) else ""
        rows.append(f"<li><a href='quote:{i}'>[{n or '?'}] {html.escape(os.path.basename(str(e.get('path', ''))))}</a>"
                    f": \u201c{html.escape(str(e.get('text', '')))}\u201d{mark}</li>")
    return ("<p style='margin-bottom:2px'><b>Evidence</b> (the lines of text that bear on the question; click one "
            "to see it in its picture):</p><ul style='margin-top:0'>" + "".join(rows) + "</ul>")


def evidence_boxes(answer: Answer | None, path: str) -> list[dict[str, Any]]:
    """The boxes of the evidence lines from one picture, for the preview to highlight."""
    if answer is None:
        return []
    out = []
    for e in answer.evidence:
        box = e.get("box")
        if e.get("path") == path and isinstance(box, (list, tuple)) and len(box) == 4:
            out.append({"x": box[0], "y": box[1], "w": box[2], "h": box[3], "text": e.get("text", "")})
    return out
