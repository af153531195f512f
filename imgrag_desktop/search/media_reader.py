"""The metadata reader ("tag:holiday", "#holiday", "rated 4", "4 stars") and the media reader
("videos", "raw photos", "live photos"), for search/understand.py."""

from __future__ import annotations

import re

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.reading import Chip, Found, ReadContext

__all__ = ["read_media", "read_metadata"]

_TAG = re.compile(r"(?<![\w/\\])(?:tag(?:ged)?:\s*|#)(?P<t>[\w][\w/.-]*)", re.IGNORECASE | re.UNICODE)
_RATING = re.compile(r"(?<![\w-])(?:(?:rated|rating|rating:)\s*(?P<a>[1-5])(?:\s*(?:\+|or more|stars?|or better))?"
                     r"|(?P<b>[1-5])\s*(?:\+\s*)?-?\s*stars?(?:\s+or more)?|(?P<c>★{1,5}))(?![\w-])", re.IGNORECASE)
MEDIA_WORDS = {"video": "video", "videos": "video", "clip": "video", "clips": "video", "movie": "video",
               "movies": "video", "raw": "raw", "raws": "raw", "live photo": "live", "live photos": "live",
               "motion photo": "live", "motion photos": "live"}
# "raw" alone is a word of many queries (raw fish): only "raw files/photos" and "raws" are read
_MEDIA = re.compile(r"(?<![\w/\\-])(?:(?:the|my|a|an|some|all)\s+)?(?:(?P<w>live photos?|motion photos?|videos?|"
                    r"clips?|movies?)(?:\s+(?:files?|clips?))?|(?P<r>raws?)\s+(?:files?|photos?|pictures?|images?|shots?)"
                    r"|(?P<rs>raws))(?![\w/\\-])", re.IGNORECASE)
LABELS = {"video": "🎬 videos", "raw": "📷 RAW", "live": "◉ Live Photos"}


def read_metadata(text: str, filters: Filters, context: ReadContext) -> Found | None:
    chips: list[Chip] = []
    fields: dict[str, object] = {}
    tags = [m.group("t") for m in _TAG.finditer(text)]
    if tags:
        tag_words = " ".join(m.group(0) for m in _TAG.finditer(text))
        fields["tag"] = ",".join(tags) if not filters.tag else f"{filters.tag},{','.join(tags)}"
        chips.append(Chip("tag", "🏷 " + ", ".join(tags), tag_words, {"tag": fields["tag"]}))
        text = _TAG.sub(" ", text)
    m = _RATING.search(text)
    if m is not None:
        stars = int(m.group("a") or m.group("b") or len(m.group("c") or ""))
        fields["rating"] = stars
        chips.append(Chip("rating", "★" * stars + " or more", m.group(0).strip(), {"rating": stars}))
        text = text[:m.start()] + " " + text[m.end():]
    if not chips:
        return None
    return Found(" ".join(text.split()), fields, chips)


def read_media(text: str, filters: Filters, context: ReadContext) -> Found | None:
    m = _MEDIA.search(text)
    if m is None or filters.media:
        return None
    media = MEDIA_WORDS[" ".join(m.group("w").lower().split())] if m.group("w") else "raw"
    rest = text[:m.start()] + " " + text[m.end():]
    return Found(" ".join(rest.split()), {"media": media}, [Chip("media", LABELS[media], m.group(0).strip(),
                                                                  {"media": media})])
