"""The date reader: "yesterday", "on Tuesday", "last week", "July 2023", "summer 2022", "2019",
"between May and June", "3 March 2024" → a range of the photo's own local time
(Filters.local_from / local_to, naive epoch: see indexing/photometa.py).

Each rule is one regular expression tried in order (longest phrases first) and tested one by
one in tests/unit/search/test_understand.py. The rules decide *whether* words are a date, which
is where a general parser goes wrong ("may I see", "March of the penguins", "error 2019"), so
that part is ours; the calendar sums are `datetime`'s, and explicit dates in their many
spellings ("3 March 2024", "March 3rd, 2024", "2024-03-03") are read by `dateparser`.
A bare month needs a preposition ("in May"), a bare year may not follow a word like "code".
Seasons are the northern meteorological ones (summer: June to August; winter 2022: December
2022 to February 2023).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from typing import Callable

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.reading import Chip, Found, ReadContext

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|" \
         r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_YEAR = r"(?:19[7-9]\d|20\d\d)"
_PREP = r"(?:(?:taken|shot|made|from|in|during|on|over|of|back in)\s+)"
_NOT_YEAR_AFTER = {"code", "error", "number", "no", "#", "id", "port", "version", "v", "page", "room", "flight",
                   "order", "invoice", "ticket", "model", "build", "issue", "pr", "line", "step", "gate", "bus"}


def _epoch(d: date | datetime) -> float:
    if not isinstance(d, datetime):
        d = datetime(d.year, d.month, d.day)
    return float(calendar.timegm(d.timetuple()))


def _month_start(y: int, m: int) -> date:
    while m > 12:
        y, m = y + 1, m - 12
    return date(y, m, 1)


def _label_range(a: date, b: date) -> str:
    """b exclusive."""
    last = b - timedelta(days=1)
    if a == last:
        return f"{calendar.day_abbr[a.weekday()]} {a.day} {calendar.month_abbr[a.month]} {a.year}"
    if a.day == 1 and b.day == 1:
        months = (b.year - a.year) * 12 + b.month - a.month
        if a.month == 1 and months % 12 == 0:
            return str(a.year) if months == 12 else f"{a.year}–{last.year}"
        if months == 1:
            return f"{calendar.month_abbr[a.month]} {a.year}"
        if a.year == last.year:
            return f"{calendar.month_abbr[a.month]}–{calendar.month_abbr[last.month]} {a.year}"
        return f"{calendar.month_abbr[a.month]} {a.year}–{calendar.month_abbr[last.month]} {last.year}"
    if a.year == last.year:
        return f"{a.day} {calendar.month_abbr[a.month]} – {last.day} {calendar.month_abbr[last.month]} {a.year}"
    return f"{a.isoformat()} – {last.isoformat()}"


def _recent_month(m: int, today: date, strictly_before: bool = False) -> int:
    """The year of the most recent month `m` (this year's if it has begun)."""
    y = today.year
    if m > today.month or (strictly_before and m == today.month):
        y -= 1
    return y


# --- the rules: each takes the match and today, and gives [from, to) dates (to exclusive) --------
Rule = Callable[[re.Match[str], date], tuple[date, date] | None]


def _relative_day(m: re.Match[str], today: date) -> tuple[date, date]:
    word = m.group("w").lower()
    back = {"today": 0, "yesterday": 1}.get(word, 2)
    d = today - timedelta(days=back)
    return d, d + timedelta(days=1)


def _weekday(m: re.Match[str], today: date) -> tuple[date, date]:
    wd = WEEKDAYS[m.group("d").lower()]
    back = (today.weekday() - wd) % 7
    if m.group("last") and back == 0:
        back = 7
    d = today - timedelta(days=back)
    return d, d + timedelta(days=1)


def _this_last(m: re.Match[str], today: date) -> tuple[date, date]:
    which, unit = m.group("which").lower(), m.group("u").lower()
    last = which in ("last", "past", "previous")
    if unit == "week":
        start = today - timedelta(days=today.weekday())
        start = start - timedelta(days=7) if last else start
        return start, start + timedelta(days=7)
    if unit == "weekend":
        sat = today - timedelta(days=(today.weekday() - 5) % 7)
        if last and sat + timedelta(days=2) > today:
            sat -= timedelta(days=7)
        return sat, sat + timedelta(days=2)
    if unit == "month":
        start = _month_start(today.year, today.month)
        if last:
            start = _month_start(today.year - (today.month == 1), 12 if today.month == 1 else today.month - 1)
        return start, _month_start(start.year, start.month + 1)
    y = today.year - 1 if last else today.year
    return date(y, 1, 1), date(y + 1, 1, 1)


def _past_n(m: re.Match[str], today: date) -> tuple[date, date]:
    n = _number(m.group("n"))
    unit = m.group("u").lower().rstrip("s")
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[unit] * n
    return today - timedelta(days=days - 1), today + timedelta(days=1)


def _ago(m: re.Match[str], today: date) -> tuple[date, date]:
    n = _number(m.group("n"))
    unit = m.group("u").lower().rstrip("s")
    if unit == "day":
        d = today - timedelta(days=n)
        return d, d + timedelta(days=1)
    if unit == "week":
        start = today - timedelta(days=today.weekday() + 7 * n)
        return start, start + timedelta(days=7)
    if unit == "month":
        k = today.year * 12 + today.month - 1 - n
        start = date(k // 12, k % 12 + 1, 1)
        return start, _month_start(start.year, start.month + 1)
    y = today.year - n
    return date(y, 1, 1), date(y + 1, 1, 1)


def _number(text: str) -> int:
    words = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3}
    return words.get(text.lower(), int(text) if text.isdigit() else 1)


def _season(m: re.Match[str], today: date) -> tuple[date, date]:
    first = SEASONS[m.group("s").lower()]
    which = (m.group("which") or "").lower()
    if m.group("y"):
        y = int(m.group("y"))
    else:
        y = today.year if _month_start(today.year, first) <= today else today.year - 1
        in_it = _month_start(y, first) <= today < _month_start(y, first + 3)
        if which in ("last", "past", "previous") and in_it:
            y -= 1
    return _month_start(y, first), _month_start(y, first + 3)


def _month_year(m: re.Match[str], today: date) -> tuple[date, date]:
    mo, y = MONTHS[m.group("m").lower()], int(m.group("y"))
    return date(y, mo, 1), _month_start(y, mo + 1)


def _month_alone(m: re.Match[str], today: date) -> tuple[date, date]:
    mo = MONTHS[m.group("m").lower()]
    y = _recent_month(mo, today, strictly_before=bool(m.group("last")))
    return date(y, mo, 1), _month_start(y, mo + 1)


def _months_between(m: re.Match[str], today: date) -> tuple[date, date] | None:
    a, b = MONTHS[m.group("a").lower()], MONTHS[m.group("b").lower()]
    yb = int(m.group("y")) if m.group("y") else None
    if yb is None:
        yb = _recent_month(b, today)
        if b < a and _month_start(yb, a) > today:
            pass
    ya = yb if a <= b else yb - 1
    start, end = date(ya, a, 1), _month_start(yb, b + 1)
    if m.group("y") is None and start > today:
        start, end = date(ya - 1, a, 1), _month_start(yb - 1, b + 1)
    return start, end


def _years_between(m: re.Match[str], today: date) -> tuple[date, date] | None:
    a, b = sorted((int(m.group("a")), int(m.group("b"))))
    return date(a, 1, 1), date(b + 1, 1, 1)


def _year(m: re.Match[str], today: date) -> tuple[date, date] | None:
    before = m.string[:m.start()].split()
    if not m.group("p") and before and before[-1].lower().strip(":#") in _NOT_YEAR_AFTER:
        return None
    if before and (before[-1].lower().rstrip(".,") in MONTHS or before[-1].isdigit()):
        return None  # part of a written date the other rules left alone ("18 APR 2018")
    y = int(m.group("y"))
    if y > today.year + 1:
        return None
    return date(y, 1, 1), date(y + 1, 1, 1)


def _since(m: re.Match[str], today: date) -> tuple[date, date] | None:
    inner = _piece(m.group("x"), today)
    if inner is None:
        return None
    start, end = inner
    if m.group("k").lower() in ("before", "until", "till"):
        return date(1900, 1, 1), start
    if m.group("k").lower() == "after":
        return end, today + timedelta(days=1)
    return start, today + timedelta(days=1)


def _explicit_day(m: re.Match[str], today: date) -> tuple[date, date] | None:
    """An explicit day ("3 March 2024", "March 3rd", "2024-03-03"), read by dateparser."""
    import dateparser

    base = datetime(today.year, today.month, today.day, 12)
    got = dateparser.parse(m.group("x"), languages=["en"],
                           settings={"PREFER_DATES_FROM": "past", "RELATIVE_BASE": base, "STRICT_PARSING": False,
                                     "REQUIRE_PARTS": ["day", "month"]})
    if got is None:
        return None
    d = got.date()
    return d, d + timedelta(days=1)


def _piece(text: str, today: date) -> tuple[date, date] | None:
    """A month [year] or a year, for "since …", "before …"."""
    for rx, rule in ((_RX_MONTH_YEAR, _month_year), (_RX_YEAR_ONLY, _year), (_RX_MONTH_ONLY, _month_alone)):
        m = rx.fullmatch(text)
        if m:
            return rule(m, today)
    return None


_F = re.IGNORECASE
_RX_MONTH_YEAR = re.compile(rf"(?P<m>{_MONTH})\.?,?\s+(?:of\s+)?(?P<y>{_YEAR})", _F)
_RX_YEAR_ONLY = re.compile(rf"(?P<p>)(?P<y>{_YEAR})", _F)
_RX_MONTH_ONLY = re.compile(rf"(?P<last>)(?P<m>{_MONTH})", _F)
_B = r"(?<![\w/-])"  # no word, slash or dash just before (not "2019-05", "v2019")
_E = r"(?![\w/-]|:\d)"  # ... or just after

RULES: list[tuple[str, re.Pattern[str], Rule]] = [
    ("explicit day", re.compile(  # after a preposition: a date pasted alone is searched as text
        rf"{_B}(?:on|from|taken\s+on|since|dated)\s+(?P<x>(?:{_DAY},?\s+)?(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?"
        rf"(?:,?\s+{_YEAR})?|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?|{_YEAR}-\d{{2}}-\d{{2}})){_E}", _F),
     _explicit_day),
    ("between months", re.compile(
        rf"{_B}(?:between|from)\s+(?P<a>{_MONTH})\s+(?:and|to|until|till|-|–)\s+(?P<b>{_MONTH})(?:\s+(?:of\s+)?"
        rf"(?P<y>{_YEAR}))?{_E}", _F), _months_between),
    ("between years", re.compile(
        rf"{_B}(?:between|from)\s+(?P<a>{_YEAR})\s+(?:and|to|until|till|-|–)\s+(?P<b>{_YEAR}){_E}", _F), _years_between),
    ("since/before", re.compile(
        rf"{_B}(?P<k>since|before|after|until|till)\s+(?P<x>{_MONTH}\.?(?:\s+{_YEAR})?|{_YEAR}){_E}", _F), _since),
    ("season", re.compile(
        rf"{_B}{_PREP}?(?:the\s+)?(?:(?P<which>last|this|past|previous)\s+)?(?P<s>summer|winter|spring|autumn|fall)"
        rf"(?:\s+(?:of\s+)?(?P<y>{_YEAR}))?{_E}", _F), _season),
    ("month year", re.compile(rf"{_B}(?<!\d\s){_PREP}?(?P<m>{_MONTH})\.?,?\s+(?:of\s+)?(?P<y>{_YEAR}){_E}", _F), _month_year),
    ("relative day", re.compile(rf"{_B}{_PREP}?(?P<w>today|yesterday|the\s+day\s+before\s+yesterday){_E}", _F),
     _relative_day),
    ("past n", re.compile(
        rf"{_B}(?:in\s+|over\s+|from\s+|during\s+)?(?:the\s+)?(?:last|past|previous)\s+(?P<n>\d+|two|three|four|five|six|"
        rf"seven|eight|nine|ten|a\s+few|a\s+couple\s+of)\s+(?P<u>days?|weeks?|months?|years?){_E}", _F), _past_n),
    ("ago", re.compile(
        rf"{_B}(?:from\s+)?(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?P<u>days?|weeks?|"
        rf"months?|years?)\s+ago{_E}", _F), _ago),
    ("this/last", re.compile(
        rf"{_B}{_PREP}?(?P<which>this|last|past|previous)\s+(?P<u>weekend|week|month|year){_E}", _F), _this_last),
    ("weekday", re.compile(rf"{_B}(?:on\s+|from\s+|taken\s+on\s+)?(?:(?P<last>last|past|this)\s+)?(?P<d>{_DAY})s?{_E}",
                           _F), _weekday),
    ("month", re.compile(
        rf"{_B}(?:(?:in|during|from|since|back\s+in)\s+|(?P<last>last)\s+)(?:the\s+month\s+of\s+)?(?P<m>{_MONTH}){_E}"
        rf"(?!\s+(?:i|we|you|he|she|it|they|be|have)\b)", _F), _month_alone),
    ("year", re.compile(rf"{_B}(?P<p>(?:in|from|during|of|taken\s+in|back\s+in)\s+)?(?P<y>{_YEAR}){_E}", _F), _year),
]


def read_dates(text: str, filters: Filters, context: ReadContext) -> Found | None:
    """The first date phrase of the text, as a range of the photo's local time."""
    today = context.now.date()
    for name, rx, rule in RULES:
        for m in rx.finditer(text):
            got = rule(m, today)
            if got is None:
                continue
            start, end = got
            rest = f"{text[:m.start()]} {text[m.end():]}"
            fields: dict[str, float] = {"local_from": _epoch(start), "local_to": _epoch(end)}
            label = _label_range(start, end)
            if name == "since/before":
                inner = _piece(m.group("x"), today)
                what = _label_range(*inner) if inner else m.group("x")
                label = f"{m.group('k').lower()} {what}"
                if start.year == 1900:
                    fields = {"local_to": fields["local_to"]}
            words = m.group(0).strip()
            return Found(rest, fields, [Chip("date", f"📅 {label}", words, fields)])
    return None
