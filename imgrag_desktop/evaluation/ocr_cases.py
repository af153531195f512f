"""Generated OCR test images whose text is known: the hard cases real test data lacks.

Each case is rendered with Pillow from seeded random sentences, so the rendered text is the
truth: pages turned 90/180/270 degrees, a page photographed with a phone (perspective, blur,
uneven light), low contrast, small UI type light-on-dark and dark-on-light at 1x and 2x, and a
two-column page under a title (reading order). `write_cases(folder)` writes the PNGs and an
`expected.json` in the format of the shared screenshots (`file`, `expected_text`).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from typing import Any

WORDS = (
    "account address after again almost answer april autumn balance basket before better bicycle birthday "
    "bottle bridge budget butter camera candle castle change cheese circle city coffee colour corner cotton "
    "country dinner doctor document during early engine evening family farmer february field finish flower "
    "forest friday garden golden grocery guitar harbour holiday hotel island journey july kitchen ladder "
    "lemon letter library little market meeting middle minute monday morning mountain museum number orange "
    "paper parcel pencil people pepper picture planet pocket potato purple quarter rabbit receipt river "
    "saturday school season silver simple sister spring station street summer sunday supper table ticket "
    "timber tomato travel tuesday umbrella valley village violet wallet water window winter wooden yellow"
).split()

PAGE_KINDS = ("page", "turned90", "turned180", "turned270", "phone", "low_contrast", "ui_dark_1x",
              "ui_dark_2x", "ui_light_1x", "columns")


@dataclass
class Case:
    name: str
    kind: str
    text: str  # the truth, lines joined with newlines, in reading order


def _font(size: int) -> Any:
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "Arial.ttf",
                 "/System/Library/Fonts/Supplemental/Arial.ttf", "C:/Windows/Fonts/arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words)), str(rng.randrange(10, 9999)))
    return " ".join(words).capitalize()


def _render(lines: list[str], size: int, fg: tuple[int, int, int], bg: tuple[int, int, int],
            width: int, margin: int = 40, spacing: float = 1.6) -> Any:
    from PIL import Image, ImageDraw

    font = _font(size)
    step = int(size * spacing)
    img = Image.new("RGB", (width, margin * 2 + step * len(lines)), bg)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * step), line, font=font, fill=fg)
    return img


def _phone(img: Any, rng: random.Random) -> Any:
    """A page photographed on a table: perspective, a darker corner, blur, some noise."""
    import numpy as np
    from PIL import Image, ImageFilter

    w, h = img.size
    pad = int(0.08 * max(w, h))
    canvas = Image.new("RGB", (w + 2 * pad, h + 2 * pad), (96, 84, 70))
    canvas.paste(img, (pad, pad))
    W, H = canvas.size
    j = lambda a: rng.uniform(0, a)  # noqa: E731
    # Output corners → input corners (Pillow's perspective maps output pixels to input pixels).
    src = [(j(pad), j(pad)), (W - j(pad), j(pad)), (W - j(pad * 0.6), H - j(pad)), (j(pad * 0.6), H - j(pad))]
    dst = [(0, 0), (W, 0), (W, H), (0, H)]
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(a, dtype=float), np.array([c for p in src for c in p], dtype=float))
    warped = canvas.transform((W, H), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC)
    arr = np.asarray(warped).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    light = 1.0 - 0.35 * (xx / W) * (yy / H)
    arr = arr * light[..., None] + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, arr.shape)
    out = Image.fromarray(np.clip(arr, 0, 255).astype("uint8"))
    return out.filter(ImageFilter.GaussianBlur(1.1))


def make_case(kind: str, seed: int) -> tuple[Any, Case]:
    """(image, case) of one kind, the same for the same seed."""
    from PIL import Image

    rng = random.Random(f"{kind}-{seed}")
    name = f"{kind}_{seed:02d}.png"
    if kind.startswith("ui_"):
        scale = 2 if kind.endswith("2x") else 1
        size = rng.choice((11, 12, 13)) * scale
        lines = [_sentence(rng, rng.randint(2, 5)) for _ in range(rng.randint(6, 10))]
        dark = kind.startswith("ui_dark")
        fg, bg = ((222, 222, 222), (32, 33, 36)) if dark else ((40, 40, 40), (246, 246, 246))
        img = _render(lines, size, fg, bg, width=rng.randint(380, 560) * scale, margin=12 * scale, spacing=1.7)
        return img, Case(name, kind, "\n".join(lines))
    if kind == "columns":
        title = _sentence(rng, 4)
        col_w = 520
        left = [_sentence(rng, 5) for _ in range(10)]
        right = [_sentence(rng, 5) for _ in range(10)]
        from PIL import ImageDraw

        font, tfont = _font(20), _font(30)
        img = Image.new("RGB", (2 * col_w + 120, 140 + 32 * 10 + 40), (255, 255, 255))
        d = ImageDraw.Draw(img)
        d.text((40, 30), title, font=tfont, fill=(0, 0, 0))
        for i, (a, b) in enumerate(zip(left, right)):
            d.text((40, 120 + 32 * i), a, font=font, fill=(20, 20, 20))
            d.text((80 + col_w, 120 + 32 * i), b, font=font, fill=(20, 20, 20))
        return img, Case(name, kind, "\n".join([title, *left, *right]))
    lines = [_sentence(rng, rng.randint(5, 8)) for _ in range(rng.randint(10, 14))]
    if kind == "low_contrast":
        img = _render(lines, 22, (150, 150, 150), (200, 200, 200), width=900)
        return img, Case(name, kind, "\n".join(lines))
    img = _render(lines, 22, (15, 15, 15), (252, 252, 250), width=900)
    if kind.startswith("turned"):
        turn = {"turned90": Image.Transpose.ROTATE_90, "turned180": Image.Transpose.ROTATE_180,
                "turned270": Image.Transpose.ROTATE_270}[kind]
        img = img.transpose(turn)
    elif kind == "phone":
        img = _phone(img.resize((img.width * 2, img.height * 2), Image.Resampling.BICUBIC), rng)
    return img, Case(name, kind, "\n".join(lines))


def write_cases(folder: str, per_kind: int = 2, kinds: tuple[str, ...] = PAGE_KINDS) -> list[Case]:
    """Write `per_kind` images of each kind and `expected.json` into `folder`."""
    os.makedirs(folder, exist_ok=True)
    cases = []
    for kind in kinds:
        for seed in range(per_kind):
            img, case = make_case(kind, seed)
            img.save(os.path.join(folder, case.name))
            cases.append(case)
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump([{"file": c.name, "kind": c.kind, "expected_text": c.text} for c in cases], fh, indent=1)
    return cases
