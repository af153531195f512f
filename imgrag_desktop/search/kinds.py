"""The kind reader ("screenshot", "receipt", "document") and the filler reader ("photos of",
"show me"), for search/understand.py."""

from __future__ import annotations

import re

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.reading import Chip, Found, ReadContext

# word (singular or plural) → (kind, whether the word stays in the text to search for)
KIND_WORDS: dict[str, tuple[str, bool]] = {
    "screenshot": ("screenshot", False), "screen shot": ("screenshot", False), "screengrab": ("screenshot", False),
    "screen grab": ("screenshot", False), "screen capture": ("screenshot", False),
    "document": ("document", False), "scanned document": ("document", False), "scan": ("document", False),
    # A receipt or invoice is a document, but a scanned or photographed one is often labelled a
    # photo (indexing/scanner's detect_kind sees a picture of paper): leave out only screenshots.
    # The word stays in the text, so the receipts still rank first.
    "receipt": ("document,photo", True),
    "invoice": ("document,photo", True),
}
_RX = re.compile(r"(?<![\w\\/-])(?:(?:in|on|from|of)\s+)?(?:(?:the|a|an|my|this|that|these|those|some|all)\s+)?"
                 r"(?P<w>" + "|".join(sorted((re.escape(w) for w in KIND_WORDS), key=len, reverse=True)) +
                 r")s?(?![\w\\/-])", re.IGNORECASE)  # not inside a path: "C:\\…\\My Documents\\…"
LABELS = {"screenshot": "🖥 screenshots", "document": "📄 documents", "photo": "📷 photos",
          "document,photo": "🧾 not screenshots"}


def read_kinds(text: str, filters: Filters, context: ReadContext) -> Found | None:
    m = _RX.search(text)
    if m is None:
        return None
    word = " ".join(m.group("w").lower().split())
    kind, keep = KIND_WORDS[word]
    rest = f"{text[:m.start()]} {word if keep else ''} {text[m.end():]}"
    label = LABELS[kind] + (f" ({word}s)" if keep else "")
    fields = {"kind": kind}
    return Found(rest, fields, [Chip("kind", label, "" if keep else m.group(0).strip(), fields)])


# Words that are left when a query was only filters: "photos from Japan", "show me pictures of 2019".
FILLER = {"photo", "photos", "picture", "pictures", "pic", "pics", "image", "images", "shot", "shots", "show", "me",
          "find", "list", "all", "my", "the", "a", "an", "of", "from", "in", "on", "at", "taken", "some", "any",
          "every", "please", "i", "took", "we", "that", "were", "was", "which", "with", "what", "and", "'s", "’s"}


def read_filler(text: str, filters: Filters, context: ReadContext) -> Found | None:
    """Only filler words left (and something else was read): nothing to look for but the
    filters, so the query lists the filtered photos by date."""
    words = re.findall(r"[\w']+", text.lower())
    if not words or any(w not in FILLER for w in words) or text.count('"'):
        return None
    return Found("", {}, [])
