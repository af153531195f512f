"""Notes in words for QR and barcode payloads (standard schemes; passwords never repeated)."""

from __future__ import annotations

import pytest

from imgrag_desktop.models.codes import code_kind, describe


@pytest.mark.parametrize("payload, fmt, note", [
    ("BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane\nORG:Acme\nTEL;TYPE=cell:+44 20 7946 0000\nEMAIL:jane@acme.example\nEND:VCARD",
     "QRCode", "QR code with a contact card (vCard): Jane Doe, Acme, +44 20 7946 0000, jane@acme.example"),
    ("MECARD:N:Doe,Jane;TEL:123;EMAIL:j@x.example;;", "QRCode", "QR code with a contact card: Jane Doe, 123, j@x.example"),
    ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Team dinner\nLOCATION:Luigi's\\, Main St\nDTSTART:20240105T193000Z\n"
     "END:VEVENT\nEND:VCALENDAR", "QRCode",
     "QR code with a calendar event (invitation): Team dinner, at Luigi's, Main St, on 5 January 2024 at 19:30"),
    ("mailto:me@x.example?subject=Hello%20there&body=Hi", "QRCode",
     "QR code with an e-mail to me@x.example, subject Hello there, message Hi"),
    ("MATMSG:TO:me@x.example;SUB:Hi;BODY:Text;;", "QRCode", "QR code with an e-mail to me@x.example, subject Hi, message Text"),
    ("tel:+1-555-0100", "QRCode", "QR code with a phone number to call: +1-555-0100"),
    ("SMSTO:+15550100:See you", "QRCode", "QR code with a text message (SMS) to +15550100: See you"),
    ("geo:48.8584,2.2945", "QRCode", "QR code with a map location (coordinates 48.8584,2.2945)"),
    ("https://example.org/a?b=c", "QRCode", "QR code with a web link to example.org"),
    ("www.example.org", "QRCode", "QR code with a web link to www.example.org"),
    ("just some words", "QRCode", "QR code with text"),
    ("4006381333931", "EAN13", "product barcode (article number 4006381333931)"),
    ("ABC-123", "Code128", "barcode with text"),
    ("", "DataMatrix", "2D code"),
])
def test_describe(payload: str, fmt: str, note: str) -> None:
    assert describe(payload, fmt) == note


def test_wifi_note_names_the_network_but_never_the_password() -> None:
    note = describe(r"WIFI:T:WPA;S:Cafe\;Guest;P:hunter2-secret;;", "QRCode")
    assert note == "QR code with a Wi-Fi network login for Cafe;Guest (WPA)"
    assert "hunter2" not in note


def test_kinds_from_zxing_format_names() -> None:
    assert code_kind("QRCode") == code_kind("MicroQRCode") == code_kind("QR Code") == "QR code"
    assert code_kind("EAN13") == code_kind("UPCA") == "product barcode"
    assert code_kind("Aztec") == "2D code" and code_kind("Code39") == "barcode" and code_kind("") == "barcode"


def test_damaged_payloads_still_give_a_line() -> None:
    for junk in ("BEGIN:VCARD", "BEGIN:VEVENT\nDTSTART:notadate", "mailto:", "WIFI:", "tel:", "SMSTO:"):
        note = describe(junk, "QRCode")
        assert note.startswith("QR code") and "\n" not in note
