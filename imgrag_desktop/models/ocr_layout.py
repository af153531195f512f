"""Geometry shared by the OCR engines: the reading order of detected lines, and boxes of a
rotated copy mapped back to the original image.

A line detector (PP-OCR's) returns boxes, not a page layout: sorted top to bottom, two columns
interleave line by line, and a four-word phrase that wraps inside one column is broken by a line
of the other. `reading_order` cuts the page into columns where a clear vertical gap runs the
whole height of a block (recursive XY-cut, the classic layout method) and joins pieces of one row
(a receipt's "TOTAL" and its amount) into one line. A column must hold several lines of running
text on both sides of the gap, so a receipt's column of amounts is not read as a column of text.
Written here because no maintained library does this for bare boxes without a layout model.
"""

from __future__ import annotations

from statistics import median
from typing import Any

MIN_COLUMN_LINES = 3  # lines each side of a vertical gap needs to be a column
MIN_COLUMN_CHARS = 12  # median characters per line of a column of running text


def _x0(ln: dict[str, Any]) -> float:
    return float(ln["box"][0])


def _x1(ln: dict[str, Any]) -> float:
    return float(ln["box"][0] + ln["box"][2])


def _y0(ln: dict[str, Any]) -> float:
    return float(ln["box"][1])


def _y1(ln: dict[str, Any]) -> float:
    return float(ln["box"][1] + ln["box"][3])


def _is_column(lines: list[dict[str, Any]]) -> bool:
    return len(lines) >= MIN_COLUMN_LINES and median(len(ln["text"]) for ln in lines) >= MIN_COLUMN_CHARS


def _vertical_cut(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """The widest x gap no line crosses whose both sides are columns of running text."""
    heights = sorted(ln["box"][3] for ln in lines)
    min_gap = max(4.0, heights[len(heights) // 2])
    spans = sorted((_x0(ln), _x1(ln)) for ln in lines)
    best: tuple[float, float] | None = None
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= min_gap and (best is None or x0 - reach > best[1]):
            best = (reach + (x0 - reach) / 2, x0 - reach)
        reach = max(reach, x1)
    if best is None:
        return None
    cut = best[0]
    left = [ln for ln in lines if _x1(ln) <= cut]
    right = [ln for ln in lines if _x0(ln) >= cut]
    if not (_is_column(left) and _is_column(right)):
        return None
    return left, right


def _horizontal_cut(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """Split at the largest y gap no line crosses (a title above two columns)."""
    spans = sorted((_y0(ln), _y1(ln)) for ln in lines)
    best: tuple[float, float] | None = None
    reach = spans[0][1]
    for y0, y1 in spans[1:]:
        if y0 > reach and (best is None or y0 - reach > best[1]):
            best = (reach + (y0 - reach) / 2, y0 - reach)
        reach = max(reach, y1)
    if best is None:
        return None
    top = [ln for ln in lines if _y1(ln) <= best[0]]
    return top, [ln for ln in lines if _y1(ln) > best[0]]


def _rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top to bottom; pieces whose vertical centres fall inside one another's height are one
    row, read left to right and joined with a space."""
    out: list[list[dict[str, Any]]] = []
    for ln in sorted(lines, key=lambda ln: (_y0(ln) + _y1(ln)) / 2):
        cy = (_y0(ln) + _y1(ln)) / 2
        if out:
            last = out[-1]
            ref = last[0]
            if _y0(ref) <= cy <= _y1(ref) and _y0(ln) <= (_y0(ref) + _y1(ref)) / 2 <= _y1(ln):
                last.append(ln)
                continue
        out.append([ln])
    rows = []
    for row in out:
        row.sort(key=_x0)
        x0, y0 = min(_x0(r) for r in row), min(_y0(r) for r in row)
        rows.append({"text": " ".join(r["text"] for r in row), "conf": min(r["conf"] for r in row),
                     "box": [x0, y0, max(_x1(r) for r in row) - x0, max(_y1(r) for r in row) - y0]})
    return rows


def reading_order(lines: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    """Lines ({text, conf, box: [x, y, w, h]}) in the order a person reads them."""
    if len(lines) < 2 * MIN_COLUMN_LINES or depth > 12:
        return _rows(lines)
    cut = _vertical_cut(lines)
    if cut is not None:
        return reading_order(cut[0], depth + 1) + reading_order(cut[1], depth + 1)
    split = _horizontal_cut(lines)
    if split is None or not split[0] or not split[1]:
        return _rows(lines)
    top, bottom = split
    # Only worth it when one part has columns; otherwise the rows of the whole block are right.
    if _vertical_cut(top) is None and _vertical_cut(bottom) is None and depth > 0:
        return _rows(lines)
    return reading_order(top, depth + 1) + reading_order(bottom, depth + 1)


def unrotate_box(box: dict[str, Any], turns: int, size: tuple[int, int]) -> dict[str, Any]:
    """A word box {x, y, w, h} read on a copy turned `turns` quarter turns counter-clockwise
    (PIL's ROTATE_90 per turn) of an image of `size` (width, height), in that image's pixels."""
    w0, h0 = size
    x, y, w, h = box["x"], box["y"], box["w"], box["h"]
    t = turns % 4
    if t == 0:
        nx, ny, nw, nh = x, y, w, h
    elif t == 1:  # rotated (x', y') = (y, W - x)  →  x = W - y', y = x'
        nx, ny, nw, nh = w0 - (y + h), x, h, w
    elif t == 2:
        nx, ny, nw, nh = w0 - (x + w), h0 - (y + h), w, h
    else:  # rotated (x', y') = (H - y, x)  →  x = y', y = H - x'
        nx, ny, nw, nh = y, h0 - (x + w), h, w
    return {**box, "x": int(nx), "y": int(ny), "w": max(1, int(nw)), "h": max(1, int(nh))}
