"""Plain-language notes for QR and barcode payloads.

A code's payload is machine syntax: a contact card is `BEGIN:VCARD ... FN:Jane Doe`, an
event `BEGIN:VEVENT ... DTSTART:20250408T114500`, an e-mail draft `mailto:...?subject=...`.
Someone looking for "the QR code with Jane's contact details" or "the invitation to the party
in April" uses words that appear nowhere in that syntax, so neither the keyword index nor the
sentence model can connect them. The note says the same in words ("QR code with a contact
card: Jane Doe, Acme") and joins the OCR text beside the raw payload, which stays for exact
look-ups. Only the standard payload schemes are read; anything else is "QR code with text".

Wi-Fi payloads carry a password: the note names the network but never repeats the password.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

_LINEAR = {"EAN8", "EAN13", "UPCA", "UPCE", "ISBN", "EANUPC"}


def code_kind(format_name: str) -> str:
    """'QR code', 'product barcode' or 'barcode'/'2D code' from zxing-cpp's format name."""
    name = re.sub(r"[^a-z0-9]", "", (format_name or "").lower())
    if "qr" in name:
        return "QR code"
    if name.upper() in _LINEAR:
        return "product barcode"
    if name in ("datamatrix", "aztec", "pdf417", "maxicode", "dxfilmedge"):
        return "2D code"
    return "barcode"


def _fields(payload: str) -> dict[str, list[str]]:
    """vCard/iCalendar content lines: NAME[;params]:value (folded lines joined)."""
    text = re.sub(r"\r?\n[ \t]", "", payload)
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.split(";", 1)[0].strip().upper()
        value = value.replace("\\,", ",").replace("\\;", ";").replace("\\n", " ").strip()
        if key and value:
            out.setdefault(key, []).append(value)
    return out


def _when(value: str) -> str:
    """iCalendar date or date-time as words ('8 April 2025 at 11:45'); else as given."""
    raw = value.strip().rstrip("Z")
    for fmt, words in (("%Y%m%dT%H%M%S", "%-d %B %Y at %H:%M"), ("%Y%m%dT%H%M", "%-d %B %Y at %H:%M"),
                       ("%Y%m%d", "%-d %B %Y")):
        try:
            dt = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        try:
            return dt.strftime(words)
        except ValueError:  # platforms without %-d
            return dt.strftime(words.replace("%-d", "%d"))
    return value


def _join(parts: list[str]) -> str:
    return ", ".join(p for p in (x.strip() for x in parts) if p)


def _vcard(payload: str) -> str:
    f = _fields(payload)
    name = (f.get("FN") or [""])[0]
    if not name and f.get("N"):
        bits = [b for b in f["N"][0].split(";") if b]
        name = " ".join(reversed(bits[:2]))
    parts = [name, *(f.get("ORG", [])[:1]), *(f.get("TITLE", [])[:1]), *(f.get("TEL", [])[:2]),
             *(f.get("EMAIL", [])[:2]), *(f.get("URL", [])[:1]), *(a.replace(";", " ") for a in f.get("ADR", [])[:1])]
    return "a contact card (vCard): " + _join(parts)


def _mecard(payload: str) -> str:
    body = payload.split(":", 1)[1] if ":" in payload else payload
    f: dict[str, str] = {}
    for item in re.split(r"(?<!\\);", body):
        if ":" in item:
            k, v = item.split(":", 1)
            f.setdefault(k.strip().upper(), v.replace("\\", "").strip())
    name = " ".join(reversed([b for b in f.get("N", "").split(",") if b]))
    return "a contact card: " + _join([name, f.get("ORG", ""), f.get("TEL", ""), f.get("EMAIL", ""), f.get("URL", "")])


def _event(payload: str) -> str:
    f = _fields(payload)
    parts = [(f.get("SUMMARY") or [""])[0]]
    if f.get("LOCATION"):
        parts.append("at " + f["LOCATION"][0])
    if f.get("DTSTART"):
        parts.append("on " + _when(f["DTSTART"][0]))
    if f.get("DESCRIPTION"):
        parts.append(f["DESCRIPTION"][0])
    return "a calendar event (invitation): " + _join(parts)


def _mailto(payload: str) -> str:
    u = urlsplit(payload)
    to = unquote(u.path)
    q = {k.lower(): v for k, v in parse_qs(u.query).items()}
    parts = [f"an e-mail to {to}" if to else "an e-mail"]
    if q.get("subject"):
        parts.append("subject " + q["subject"][0])
    if q.get("body"):
        parts.append("message " + q["body"][0])
    return _join(parts)


def _wifi(payload: str) -> str:
    f = dict(re.findall(r"([A-Z]):((?:\\.|[^;])*)", payload[5:]))
    ssid = f.get("S", "").replace("\\", "")
    security = f.get("T", "")
    return "a Wi-Fi network login" + (f" for {ssid}" if ssid else "") + (f" ({security})" if security else "")


def describe(payload: str, format_name: str = "QRCode") -> str:
    """One line saying in words what a code holds: '<kind> with <what>: <details>'."""
    kind = code_kind(format_name)
    p = (payload or "").strip()
    head = p[:12].upper()
    low = p.lower()
    if not p:
        return kind
    if kind == "product barcode" and p.isdigit():
        return f"{kind} (article number {p})"
    if head.startswith("BEGIN:VCARD"):
        what = _vcard(p)
    elif head.startswith("MECARD:"):
        what = _mecard(p)
    elif head.startswith(("BEGIN:VEVENT", "BEGIN:VCALEN")):
        what = _event(p)
    elif low.startswith("mailto:"):
        what = _mailto(p)
    elif low.startswith("matmsg:"):
        m = dict(re.findall(r"(TO|SUB|BODY):([^;]*)", p[7:]))
        what = _join([f"an e-mail to {m.get('TO', '')}", "subject " + m["SUB"] if m.get("SUB") else "",
                      "message " + m["BODY"] if m.get("BODY") else ""])
    elif low.startswith("tel:"):
        what = "a phone number to call: " + unquote(p[4:])
    elif low.startswith(("smsto:", "sms:")):
        rest = p.split(":", 1)[1]
        number, _, body = rest.partition(":")
        what = "a text message (SMS) to " + unquote(number.split("?", 1)[0]) + (f": {body}" if body else "")
    elif low.startswith("wifi:"):
        what = _wifi(p)
    elif low.startswith("geo:"):
        what = "a map location (coordinates " + p[4:].split("?", 1)[0] + ")"
    elif re.match(r"^(https?://|www\.)", low):
        host = urlsplit(p if "://" in p else "http://" + p).hostname or ""
        what = f"a web link to {host}" if host else "a web link"
    else:
        return f"{kind} with text"
    return f"{kind} with {what}"
