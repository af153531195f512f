"""Reading order of detected lines and boxes of turned copies (pure geometry)."""

from __future__ import annotations

from PIL import Image

from imgrag_desktop.models.ocr_layout import reading_order, unrotate_box


def _line(text: str, x: float, y: float, w: float, h: float = 20) -> dict:
    return {"text": text, "conf": 95.0, "box": [x, y, w, h]}


def test_two_columns_under_a_title_are_read_column_by_column() -> None:
    title = _line("A title over both columns", 40, 10, 900, 40)
    left = [_line(f"left column line number {i}", 40, 100 + 30 * i, 400) for i in range(6)]
    right = [_line(f"right column line number {i}", 520, 100 + 30 * i, 400) for i in range(6)]
    # Sorted top to bottom, as a detector gives them: the columns interleave.
    mixed = sorted([title, *left, *right], key=lambda ln: (ln["box"][1], ln["box"][0]))
    got = [ln["text"] for ln in reading_order(mixed)]
    assert got == [title["text"], *(ln["text"] for ln in left), *(ln["text"] for ln in right)]


def test_pieces_of_one_row_are_one_line_and_amounts_are_no_column() -> None:
    rows = []
    for i, (label, amount) in enumerate([("ROTI CANAI", "2.50"), ("TEH TARIK", "1.80"), ("NASI LEMAK", "4.00"),
                                         ("MEE GORENG", "5.00"), ("SUBTOTAL", "13.30"), ("TOTAL RM", "13.30"),
                                         ("CASH", "20.00")]):
        rows.append(_line(label, 30, 50 + 28 * i, 160, 22))
        rows.append(_line(amount, 400, 52 + 28 * i, 60, 20))
    got = [ln["text"] for ln in reading_order(rows)]
    assert got[5] == "TOTAL RM 13.30" and len(got) == 7


def test_unrotate_box_maps_a_turned_copy_back() -> None:
    img = Image.new("L", (300, 200), 0)
    box = {"x": 20, "y": 30, "w": 50, "h": 10}
    img.paste(255, (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]))
    for turns, op in ((1, Image.Transpose.ROTATE_90), (2, Image.Transpose.ROTATE_180), (3, Image.Transpose.ROTATE_270)):
        turned = img.transpose(op)
        x0, y0, x1, y1 = turned.getbbox()
        back = unrotate_box({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "text": "t"}, turns, img.size)
        assert (back["x"], back["y"], back["w"], back["h"]) == (20, 30, 50, 10), turns
        assert back["text"] == "t"
