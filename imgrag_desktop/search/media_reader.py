"""The metadata reader ("tag:holiday", "#holiday", "rated 4", "4 stars") and the media reader
("videos", "raw photos", "live photos"), for search/understand.py."""

from __future__ import annotations

import re

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.reading import Chip, Found, ReadContext

__all__ = ["read_media", "read_metadata"]

_TAG = re.compile(r"(?<![\w/\\])(?:(?P<explicit>tag(?:ged)?:\s*)|#)(?P<t>[\w][\w/.-]*)", re.IGNORECASE | re.UNICODE)
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
    # "tag:holiday" is always a tag; "#holiday" only when the library has that tag ("#1", "#include").
    taken = [m for m in _TAG.finditer(text)
             if m.group("explicit") or (context.has_tag is not None and context.has_tag(m.group("t")))]
    if taken:
        tags = [m.group("t") for m in taken]
        tag_words = " ".join(m.group(0) for m in taken)
        fields["tag"] = ",".join(tags) if not filters.tag else f"{filters.tag},{','.join(tags)}"
        chips.append(Chip("tag", "🏷 " + ", ".join(tags), tag_words, {"tag": fields["tag"]}))
        for t in reversed(taken):
            text = text[:t.start()] + " " + text[t.end():]
    r = _RATING.search(text)
    # "rated 4" and "★★★" are ratings; "4 stars" ("a 4 stars hotel") only in a library with ratings
    if r is not None and (r.group("b") is None or (context.has_ratings is not None and context.has_ratings())):
        stars = int(r.group("a") or r.group("b") or len(r.group("c") or ""))
        fields["rating"] = stars
        chips.append(Chip("rating", "★" * stars + " or more", r.group(0).strip(), {"rating": stars}))
        text = text[:r.start()] + " " + text[r.end():]
    if not chips:
        return None
    return Found(" ".join(text.split()), fields, chips)


def read_media(text: str, filters: Filters, context: ReadContext) -> Found | None:
    m = _MEDIA.search(text)
    if m is None or filters.media:
        return None
    media = MEDIA_WORDS[" ".join(m.group("w").lower().split())] if m.group("w") else "raw"
    # "a movie poster", "paper clips": a filter only when the library holds that kind of item
    if context.has_media is None or not context.has_media(media):
        return None
    rest = text[:m.start()] + " " + text[m.end():]
    return Found(" ".join(rest.split()), {"media": media}, [Chip("media", LABELS[media], m.group(0).strip(),
                                                                  {"media": media})])
