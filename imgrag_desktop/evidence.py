"""Evidence for an answer: the lines of the retrieved images' text that bear on the question.

An answer from a small local model can only be trusted when the user can check it, so every
answer comes with quotes: lines of OCR text, QR-code payloads and their notes, and captions,
each with the image it is from and its box in that image's pixels (the preview highlights it).

Lines are picked by keywords, at line level, in three parts:

* **which image**: the question's distinctive words ("Roti Man Bakery", "NormCap") weighted
  by how rare they are among the retrieved images (a word every receipt has, such as "total",
  says nothing about which receipt is meant); `anchor_share` is the weighted share of them an
  image holds, and it gates the answer (an image that holds none of them cannot answer);
* **which line**: the question's attribute words, with their usual synonyms on receipts and
  screenshots (phone -> tel, total -> amount), in the line or near it (the line before, or the
  same row of the page: receipts put a label and its value apart), plus a character-trigram
  similarity to the question for wording the keywords miss;
* **which kind of value**: a question that asks for an amount, a date, a phone number, an
  e-mail address, a web address or a code favours lines holding such a value (`VALUE_PATTERNS`;
  `extract_value` reads it from a line).

Written here rather than taken from a library: the scoring is a few dozen lines over short
texts, and a ranking library (BM25) would miss the row geometry and value kinds that matter
most on receipts. No model is loaded, so evidence costs milliseconds and is there whatever the
model says.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

_TOKEN = re.compile(r"[a-z0-9]+")

# Words that say nothing about what is asked.
STOPWORDS = frozenset("""
a an the of at on in to for from by with and or is are was were be been being am do does did done
what which who whom whose where when why how much many this that these those there here it its my
me i we our you your he she his her they their them can could would should will shall may might
please tell show shown find give given get got bought paid spent served linked written read say
says said list picture pictures image images screenshot screenshots photo photos article any some
about into out up
""".split())

# Attribute words: what is asked for, not which image holds it; each with the words that
# label it on receipts and screenshots.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "total": ("total", "amount", "grand", "nett", "net", "payable", "sum"),
    "amount": ("amount", "total", "amt"),
    "much": (),
    "order": ("order",),
    "price": ("price", "cost", "amount", "rm"),
    "cost": ("cost", "price", "amount", "rm"),
    "pay": ("total", "cash", "paid", "amount"),
    "cash": ("cash", "tendered", "tender", "paid"),
    "change": ("change",),
    "tax": ("tax", "gst", "vat"),
    "phone": ("tel", "telephone", "phone", "mobile", "hp", "call"),
    "telephone": ("tel", "telephone", "phone", "mobile"),
    "mobile": ("mobile", "hp", "tel", "phone"),
    "fax": ("fax",),
    "number": ("no", "number", "num", "nr"),
    "no": ("no", "number"),
    "email": ("email", "mail", "e"),
    "mail": ("email", "mail"),
    "address": ("address", "jalan", "street", "road", "lot", "no"),
    "street": ("jalan", "street", "road", "jln", "address"),
    "website": ("www", "http", "https", "com", "url", "site"),
    "site": ("www", "http", "https", "com", "url", "site"),
    "url": ("www", "http", "https", "url"),
    "link": ("http", "https", "www"),
    "links": ("http", "https", "www"),
    "page": ("com", "www", "http"),
    "date": ("date", "dated", "day"),
    "time": ("time",),
    "when": ("date", "time", "dtstart", "start", "on"),
    "start": ("start", "dtstart", "begin"),
    "where": ("location", "address", "venue", "place"),
    "who": ("name", "cashier", "operator", "by", "fn"),
    "invoice": ("invoice", "inv", "bill", "tax"),
    "receipt": ("receipt", "invoice", "inv", "bill", "slip", "doc"),
    "bill": ("bill", "invoice", "inv"),
    "code": ("code",),
    "id": ("id", "reg", "no"),
    "cashier": ("cashier", "server"),
    "operator": ("operator",),
    "item": ("item", "description", "desc"),
    "title": ("title",),
    "name": ("name", "fn"),
    "contact": ("contact", "vcard", "card"),
    "organization": ("org", "organization", "organisation", "company"),
    "organisation": ("org", "organization", "organisation", "company"),
    "company": ("org", "company", "sdn", "bhd"),
    "subject": ("subject",),
    "gst": ("gst",),
    "reg": ("reg", "registration"),
}

# Labels that often stand beside the value asked for, weighing half (the cash paid is the total).
SECONDARY: dict[str, tuple[str, ...]] = {"total": ("cash", "rm"), "amount": ("cash",), "price": ("rm",),
                                         "much": ("total", "amount"), "order": ("total",)}


def clean_ocr(text: str) -> str:
    """Undo the OCR slips that hide values: "RM20. 40" is 20.40, "www. popular. com" a web address."""
    t = re.sub(r"(\d[.,]) (\d{2})(?!\d)", r"\1\2", text)
    t = re.sub(r"(?i)(total\S*:?\s*(?:RM\s?)?\d{1,4}) (\d{2})$", r"\1.\2", t)  # "GrandTotal 92 80": a lost point
    if re.search(r"www|http", t, re.I):
        t = re.sub(r"(?<=\w)\. (?=\w)", ".", t)
    return t


# The kinds of value a question can ask for, and how each reads in text.
_AMOUNT = r"(?<![\w/.,-])(?:RM|MYR|USD|EUR|\$|€|£)?\s?-?\d{1,3}(?:,\d{3})*[.,]\d{2}(?![\d/.-]*\d)|(?<=RM)\d{1,3}(?:,\d{3})*[.,]\d{2}\b"
VALUE_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I),
    "url": re.compile(r"(?:https?://|www\.)[^\s<>\"]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|de|my|gov|edu|uk|info)"
                      r"(?:\.[a-z]{2})?(?:/[^\s<>\"]*)?", re.I),
    "phone": re.compile(r"(?<![\w.])(?:\+\s?)?\(?\d(?=[\d ()-]*[ ()-])[\d ()-]{6,}\d(?![\w.])"),
    "date": re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{8}T\d{4,6}\b|"
                       r"\b\d{1,2}[ /-]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[ /-]?\d{2,4}\b|"
                       r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2},? \d{4}\b", re.I),
    "amount": re.compile(_AMOUNT, re.I),
    "code": re.compile(r"(?<![\w.])(?=[\w/#-]*\d{3})[A-Z0-9][\w/#-]{4,}(?![\w.])", re.I),
}
KINDS = tuple(VALUE_PATTERNS)


def find_values(kind: str, text: str) -> list[re.Match[str]]:
    """The values of a kind in a (cleaned) line: a phone number has a separator or a leading +
    (a run of 12 digits is an ID), a code is not an amount."""
    pattern = VALUE_PATTERNS.get(kind)
    if pattern is None:
        return []
    found = list(pattern.finditer(text))
    if kind == "phone":
        found = [m for m in found if m.group(0).lstrip().startswith("+") or re.search(r"\d[ ()-]+\d", m.group(0))]
    elif kind == "code":
        found = [m for m in found if not VALUE_PATTERNS["amount"].fullmatch(m.group(0))
                 and not VALUE_PATTERNS["date"].fullmatch(m.group(0))]
    return found

# Question words that say which kind of value is wanted, in the order they are tried.
_KIND_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"\be-?mail", re.I)),
    ("url", re.compile(r"\b(website|web site|url|link|links|site|web address|web page|page|homepage)\b", re.I)),
    ("phone", re.compile(r"\b(phone|telephone|fax|mobile|tel)\b", re.I)),
    ("code", re.compile(r"\b(number|no\.?|code|id|reference|ref|iban|passport|tracking|serial|registration|reg)\b",
                        re.I)),
    ("date", re.compile(r"\b(date|dated|when|what day|which day)\b", re.I)),
    ("amount", re.compile(r"\b(how much|total|price|cost|costs|paid|pay|change|amount|spent|tax|cash)\b", re.I)),
]
# Questions that want a name or a place: no value pattern, but the text after a label is one.
_NAME_CUES = re.compile(r"\b(who|whose|which|what item|what is the title|name|where)\b", re.I)


def question_kind(question: str) -> str:
    """The kind of value a question asks for: one of KINDS, "name", or "" (free text)."""
    q = re.sub(r"\b(qr|bar)[ -]?codes?\b", " ", question.lower())  # where the value is, not what it is
    for kind, cue in _KIND_CUES:
        if cue.search(q):
            return kind
    return "name" if _NAME_CUES.search(q) else ""


@dataclass
class EvidenceLine:
    """One line of text from one image, with what it is and where it is in the picture."""

    path: str
    text: str
    box: list[int] | None = None  # [x, y, w, h] in the original image's pixels
    source: str = "ocr"  # ocr | code (a QR/barcode payload) | note (what a code holds) | caption | metadata
    score: float = 0.0
    image_rank: int = 0  # 1-based rank of the image among the answer's sources
    matched: list[str] = field(default_factory=list)  # the question words found in or near it
    index: int = 0  # the line's position in its image's text

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(float(self.score), 4)
        return d


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())


def question_terms(question: str) -> tuple[list[str], list[str]]:
    """(anchors, attributes): the question's distinctive words, and the words that say what
    is asked for (single letters are dropped)."""
    anchors: list[str] = []
    attrs: list[str] = []
    for t in _tokens(re.sub(r"(?i)e-mail", "email", question)):
        for single in (t[:-2], t[:-1]) if t.endswith("s") else ():
            if single in SYNONYMS and t not in SYNONYMS:
                t = single  # "addresses", "numbers": the attribute
                break
        if t in STOPWORDS or (len(t) < 2 and not t.isdigit()):
            if t in SYNONYMS and t not in attrs:  # "no", "id"
                attrs.append(t)
            continue
        target = attrs if t in SYNONYMS else anchors
        if t not in target:
            target.append(t)
    return anchors, attrs


def _edit1(a: str, b: str) -> bool:
    """Whether a and b are at most one edit apart (OCR reads "IOI" as "TOI")."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    if len(a) > len(b):
        a, b = b, a
    for i in range(len(b)):
        if a == b[:i] + b[i + 1:]:
            return True
    return False


def token_matches(q: str, t: str, inside: bool = False) -> bool:
    """A question word found in a text word: equal, a plural, one OCR error away (for words of
    5 letters or more), or with `inside` (labels: total in SUBTOTAL) part of it."""
    if q == t:
        return True
    if inside and len(q) >= 4 and q in t:
        return True
    if len(q) >= 3 and t.startswith(q) and t[len(q):].isdigit():
        return True  # "regex" in regex101
    if q.endswith("s") and q[:-1] == t or t.endswith("s") and t[:-1] == q:
        return True
    return len(q) >= 5 and len(t) >= 4 and _edit1(q, t)


def _found(word: str, tokens: Iterable[str], inside: bool = False) -> bool:
    return any(token_matches(word, t, inside) for t in tokens)


def _trigrams(text: str) -> set[str]:
    s = " " + " ".join(_tokens(text)) + " "
    return {s[i:i + 3] for i in range(len(s) - 2)}


# Lines of one image ---------------------------------------------------------------------------
def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _union(boxes: Iterable[Mapping[str, Any]]) -> list[int] | None:
    bs = [b for b in boxes if all(k in b for k in ("x", "y", "w", "h"))]
    if not bs:
        return None
    x0 = min(int(b["x"]) for b in bs)
    y0 = min(int(b["y"]) for b in bs)
    x1 = max(int(b["x"]) + int(b["w"]) for b in bs)
    y1 = max(int(b["y"]) + int(b["h"]) for b in bs)
    return [x0, y0, x1 - x0, y1 - y0]


def image_lines(path: str, ocr_text: str | None, ocr_words: str | Sequence[Mapping[str, Any]] | None,
                caption: str | None = None, meta: str | None = None) -> list[EvidenceLine]:
    """The lines of one image's text with their boxes. The OCR keeps its lines in `ocr_text`
    and its word boxes in `ocr_words` (in reading order, codes last with a box and a note),
    so each line's box is the union of the words it is made of; a line whose words cannot be
    lined up keeps no box rather than a wrong one."""
    words: list[Mapping[str, Any]]
    if isinstance(ocr_words, str):
        try:
            loaded = json.loads(ocr_words or "[]")
        except ValueError:
            loaded = []
        words = [w for w in loaded if isinstance(w, Mapping)] if isinstance(loaded, list) else []
    else:
        words = list(ocr_words or [])
    plain = [w for w in words if not w.get("code")]
    codes = [w for w in words if w.get("code")]
    code_lines: dict[str, tuple[Mapping[str, Any], str]] = {}
    for w in codes:
        for ln in str(w.get("text") or "").splitlines():
            if ln.strip():
                code_lines.setdefault(_norm(ln), (w, "code"))
        note = str(w.get("note") or "").strip()
        if note:
            code_lines.setdefault(_norm(note), (w, "note"))
    out: list[EvidenceLine] = []
    wi = 0
    for raw in (ocr_text or "").splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        key = _norm(line)
        if key in code_lines:
            w, src = code_lines[key]
            out.append(EvidenceLine(path, line, _union([w]), src, index=len(out)))
            continue
        # Consume words whose text makes up this line, from where the last line stopped; a
        # few unmatched words (filtered by confidence after the lines were made) are skipped.
        used: list[Mapping[str, Any]] = []
        rest = key
        j = wi
        misses = 0
        while rest and j < len(plain) and misses <= 3:
            wt = _norm(str(plain[j].get("text") or ""))
            if wt and rest.startswith(wt):
                used.append(plain[j])
                rest = rest[len(wt):]
                misses = 0
            elif used:
                break
            else:
                misses += 1
            j += 1
        if used and not rest:
            wi = j
            box = _union(used)
        else:
            box = None
        out.append(EvidenceLine(path, line, box, "ocr", index=len(out)))
    for ln in (caption or "").splitlines():
        if ln.strip():
            out.append(EvidenceLine(path, " ".join(ln.split()), None, "caption", index=len(out)))
    for ln in (meta or "").splitlines():  # what the owner wrote about the photo (XMP/IPTC)
        if ln.strip():
            out.append(EvidenceLine(path, " ".join(ln.split()), None, "metadata", index=len(out)))
    return out


META_COLUMNS = ["title", "description", "tags"]


def meta_text(row: Mapping[str, Any]) -> str:
    """The title, description and tags people wrote (XMP sidecars, embedded XMP/IPTC), as lines
    an answer can quote: "Title: …", "Description: …", "Tags: a, b"."""
    lines = [f"Title: {row['title']}" if row.get("title") else "",
             f"Description: {row['description']}" if row.get("description") else ""]
    tags = [t for t in (row.get("tags") or "").split("|") if t and "/" not in t]  # leaves; paths are levels too
    if tags:
        lines.append("Tags: " + ", ".join(dict.fromkeys(tags)))
    return "\n".join(x for x in lines if x)


def _same_row(a: EvidenceLine, b: EvidenceLine) -> bool:
    if a.box is None or b.box is None:
        return False
    ay0, ay1 = a.box[1], a.box[1] + a.box[3]
    by0, by1 = b.box[1], b.box[1] + b.box[3]
    overlap = min(ay1, by1) - max(ay0, by0)
    return overlap >= 0.5 * min(a.box[3], b.box[3]) and (b.box[0] + b.box[2] <= a.box[0] + 4)


# Ranking ------------------------------------------------------------------------------------
@dataclass
class Evidence:
    """The evidence for one question: ranked lines, the kind of value asked for, and how well
    each image holds the question's distinctive words."""

    question: str
    kind: str
    lines: list[EvidenceLine]
    anchors: list[str]
    attributes: list[str]
    anchor_share: dict[str, float]  # path -> weighted share of the question's anchors it holds

    def top(self, n: int) -> list[EvidenceLine]:
        return self.lines[:n]

    def grounded(self, path: str) -> bool:
        """Whether an image holds enough of what the question names to answer it."""
        return not self.anchors or self.anchor_share.get(path, 0.0) >= ANCHOR_SHARE - 1e-9

    def to_json(self, n: int) -> list[dict[str, Any]]:
        return [{"path": ln.path, "text": ln.text, "box": ln.box, "source": ln.source, "score": round(ln.score, 4),
                 "image": ln.image_rank} for ln in self.lines[:n]]


ANCHOR_SHARE = 0.5  # an image must hold at least this (weighted) share of the question's names


def gather(question: str, images: Sequence[tuple[str, list[EvidenceLine]]], *, limit: int = 12) -> Evidence:
    """Rank the lines of the retrieved images (in retrieval order) for a question."""
    anchors, attrs = question_terms(question)
    kind = question_kind(question)
    n_img = max(1, len(images))
    img_tokens: dict[str, set[str]] = {}
    for path, lines in images:
        toks: set[str] = set()
        for ln in lines:
            toks.update(_tokens(ln.text))
        img_tokens[path] = toks
    # Rarer among the retrieved images = more telling of which image is meant; a word no
    # image holds weighs as much as one that only one image holds.
    weight: dict[str, float] = {}
    for a in anchors:
        df = sum(1 for toks in img_tokens.values() if _found(a, toks))
        weight[a] = math.log((n_img + 1) / (max(df, 1) + 0.5)) + 0.1
    total_w = sum(weight.values()) or 1.0
    share = {path: sum(weight[a] for a in anchors if _found(a, toks)) / total_w for path, toks in img_tokens.items()}
    attr_sets = {a: SYNONYMS.get(a, (a,)) for a in attrs}
    q_tri = _trigrams(question)
    pattern = VALUE_PATTERNS.get(kind)
    ranked: list[EvidenceLine] = []
    for rank, (path, lines) in enumerate(images, 1):
        toks_by_line = [_tokens(clean_ocr(ln.text)) for ln in lines]

        def has(word: str, toks: Sequence[str]) -> bool:
            return _found(word, toks, inside=True) if len(word) >= 4 else word in toks

        def attr_hits(i: int) -> dict[str, float]:
            got: dict[str, float] = {}
            for a, syn in attr_sets.items():
                if any(has(w, toks_by_line[i]) for w in syn):
                    got[a] = 1.0
                elif any(has(w, toks_by_line[i]) for w in SECONDARY.get(a, ())):
                    got[a] = 0.5
            return got

        def anchor_hits(i: int) -> list[str]:
            return [a for a in anchors if _found(a, toks_by_line[i])]

        own_attr = [attr_hits(i) for i in range(len(lines))]
        grounded = not anchors or share.get(path, 0.0) >= ANCHOR_SHARE - 1e-9
        for i, ln in enumerate(lines):
            near: dict[str, float] = {}
            around = [i - 1] if i > 0 else []
            around += [j for j in range(max(0, i - 8), min(len(lines), i + 8)) if j != i and _same_row(ln, lines[j])]
            for j in around:
                for a, w in own_attr[j].items():
                    near[a] = max(near.get(a, 0.0), w)
            a_line = anchor_hits(i)
            own = own_attr[i]
            attr_score = sum(own.values()) + 0.6 * sum(w for a, w in near.items() if a not in own)
            anchor_score = sum(weight[a] for a in a_line) / total_w
            tri = _trigrams(ln.text)
            sim = len(q_tri & tri) / math.sqrt(len(q_tri) * len(tri)) if q_tri and tri else 0.0
            value = 0.0
            vals = find_values(kind, clean_ocr(ln.text)) if pattern is not None else []
            if vals:
                # A zero amount (savings, rounding, tax at 0%) is seldom what is asked for.
                value = 0.3 if kind == "amount" and all(not re.search(r"[1-9]", m.group(0)) for m in vals) else 1.0
            score = (3.0 * share.get(path, 0.0) + attr_score + 0.8 * anchor_score + 0.6 * sim
                     + value * (1.5 if (own or near) else 0.6) - 0.02 * rank)
            if ln.source == "note":
                score += 0.2  # a code's note says in words what its payload holds
            if not grounded:
                score *= 0.5  # an image that names nothing the question names comes after those that do
            ln.score = score
            ln.image_rank = rank
            ln.matched = sorted(set(a_line) | set(own) | set(near))
            ranked.append(ln)
    ranked.sort(key=lambda ln: (-ln.score, ln.image_rank, ln.index))
    return Evidence(question, kind, ranked[:limit], anchors, attrs, share)


# Values ---------------------------------------------------------------------------------------
def normalise_value(value: str, kind: str) -> str:
    v = value.strip().strip(",;:")
    if kind == "amount":
        v = re.sub(r"^(RM|MYR|USD|EUR)\s?", "", v, flags=re.I).strip()
        m = re.fullmatch(r"(-?[\d,]*\d),(\d{2})", v)
        if m and "." not in v:  # OCR reads "53.20" as "53,20" (a decimal comma)
            v = f"{m.group(1)}.{m.group(2)}"
    return v


def extract_value(evidence: Evidence, *, lines: int = 5) -> tuple[str, EvidenceLine] | None:
    """The value a question asks for, read from the best evidence line that holds one, or None
    (a question that is not about a value, or no grounded line holds one). The value is the
    one nearest after the line's label words (CASH RM 100.20 CHANGE RM 47.00: after CHANGE).
    For a name or a place, the text after a label (CASHIER: NICOLE, LOCATION:Headquarters),
    else a short line that names what the question names."""
    kind = evidence.kind
    top = [ln for ln in evidence.lines[:lines] if evidence.grounded(ln.path)]
    if kind in VALUE_PATTERNS:
        for ln in top:
            text = clean_ocr(ln.text)
            found = find_values(kind, text)
            if kind == "amount":
                found = [m for m in found if re.search(r"[1-9]", m.group(0))] or found
            if not found:
                continue
            label_end = _label_end(text, evidence.attributes)
            after = [m for m in found if m.start() >= label_end]
            m = (after or found)[0]
            return normalise_value(m.group(0), kind), ln
        return None
    if kind != "name":
        return None
    for ln in top:
        text = clean_ocr(ln.text)
        label_end = _label_end(text, evidence.attributes, first=True)
        rest = text[label_end:].strip(" :-#,;")
        if label_end > 0 and rest:
            return rest, ln
    for ln in top:
        text = clean_ocr(ln.text)
        if any(_found(a, _tokens(text)) for a in evidence.anchors) and len(text.split()) <= 8:
            return text, ln  # the short line that names what was asked about
    return None


def _label_end(text: str, attrs: Sequence[str], first: bool = False) -> int:
    """Where the last (or first) attribute word, or one of its synonyms, in a line ends, or 0."""
    low = text.lower()
    ends = [m.end() for a in attrs for w in SYNONYMS.get(a, (a,))
            for m in re.finditer(r"(?<![a-z0-9])" + re.escape(w) + r"[a-z]*", low)]
    if not ends:
        return 0
    return min(ends) if first else max(ends)


# Support ------------------------------------------------------------------------------------
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NOT_FOUND = re.compile(r"\b(do(es)? not|don't|doesn't|cannot|can't|no (information|answer|mention)|not "
                        r"(shown|mentioned|given|found|visible|provided|stated|listed|included|available)|unknown|"
                        r"i don't know|not sure)\b", re.I)


def says_not_found(text: str) -> bool:
    return bool(_NOT_FOUND.search(text or ""))


def key_tokens(answer: str, question: str) -> tuple[list[str], list[str]]:
    """(numbers, words) an answer asserts beyond the question's own words: the digits of each
    number, and its content words."""
    q = set(_tokens(question))
    answer = re.sub(r"\[[\d\s,;\-–and]+\]", " ", answer or "")  # citations are not claims
    nums = [re.sub(r"\D", "", n) for n in _NUMBER.findall(answer)]
    nums = [n for n in nums if n and n not in {re.sub(r"\D", "", x) for x in _NUMBER.findall(question)}]
    words = [t for t in _tokens(answer) if not t.isdigit() and t not in STOPWORDS
             and t not in q and len(t) >= 3 and not any(c.isdigit() for c in t)]
    return nums, words


def supporting_line(answer: str, evidence: Evidence, lines: Sequence[EvidenceLine]) -> EvidenceLine | None:
    """The evidence line that holds the answer's key tokens, or None. Every number in the
    answer must appear in the line (by its digits: 53,20 holds 53.20) and at least two thirds
    of its content words; the line's image must hold what the question names."""
    nums, words = key_tokens(answer, evidence.question)
    if not nums and not words:
        return None
    # A web or e-mail address must be in the line as it is (python.org is not python.com).
    def bare(v: str) -> str:
        return re.sub(r"^(https?://)?(www\.)?", "", v.lower()).rstrip("/.")

    addresses = [bare(m.group(0)) for kind in ("url", "email") for m in VALUE_PATTERNS[kind].finditer(answer)]
    if evidence.kind in ("email", "url", "phone") and not find_values(evidence.kind, answer):
        return None  # asked for an e-mail address, a web address or a phone number, the answer holds none
    best: tuple[float, EvidenceLine] | None = None
    for ln in lines:
        if not evidence.grounded(ln.path):
            continue
        if addresses and any(a not in clean_ocr(ln.text).lower().replace(" ", "") for a in addresses):
            continue
        line_nums = [re.sub(r"\D", "", n) for n in _NUMBER.findall(clean_ocr(ln.text))]
        joined = "".join(line_nums)
        if any(not any(n in x for x in line_nums) and not (len(n) >= 6 and n in joined) for n in nums):
            continue
        toks = _tokens(clean_ocr(ln.text))
        got = sum(1 for w in words if _found(w, toks))
        if words and got < math.ceil(len(words) * 2 / 3) and not nums:
            continue
        if words and nums and got == 0 and len(words) > 3:
            continue
        score = got + 2 * len(nums)
        if best is None or score > best[0]:
            best = (score, ln)
    return best[1] if best else None


def rows_lines(rows: Mapping[str, Mapping[str, Any]], paths: Sequence[str]) -> list[tuple[str, list[EvidenceLine]]]:
    """The lines of each image, in the given order, from index rows (ocr_text, ocr_words,
    caption)."""
    out = []
    for p in paths:
        row = rows.get(p, {})
        out.append((p, image_lines(p, row.get("ocr_text"), row.get("ocr_words"), row.get("caption"), meta_text(row))))
    return out


def short_name(path: str) -> str:
    return Path(path).name
