"""Real-looking texts a user types or pastes into the search box, each with how it must be
read (tests/unit/search/test_any_text.py runs them through the parser and `imgrag search`,
tests/gui/test_any_text.py through the window).

The reading is what `ParsedQuery.reading()` says: "" means no operator applied and the text
is searched exactly as typed (spaces collapsed). Lines marked receipt come from
../shared/data/receipts/expected.json.
"""

from __future__ import annotations

PLAIN = ""

# (what the user typed or pasted, the expected reading)
QUERY_TEXTS: list[tuple[str, str]] = [
    # times and ranges
    ("SUN-THU:1000 HRS - 2200 HRS", PLAIN),  # receipt 197.jpg: the first example
    ("FRI-SAT:1000 HRS - 2300 HRS", PLAIN),  # receipt
    ("meet at 10:30", PLAIN),
    ("12:01:43 PM", PLAIN),
    ("open 9am-5pm Mon-Fri", PLAIN),
    ("ratio 16:9", PLAIN),
    # prices and amounts
    ("$19.99", PLAIN),
    ("RM 53.20", PLAIN),  # receipt
    ("TOTAL AMOUNT: $7.00", PLAIN),  # receipt
    ("ROUNDING: -RM0.02", PLAIN),  # receipt
    ("-5.76", PLAIN),
    ("50% off!!!", PLAIN),
    ("GST @6% INCLUDED IN TOTAL", PLAIN),  # receipt
    # dates
    ("2024-01-05", PLAIN),
    ("05/01/2018 13:30-R", PLAIN),
    ("18 APR 2018 18:34", PLAIN),  # receipt
    # phone numbers
    ("+1 (555) 123-4567", PLAIN),
    ("TEL:03-9054 3785", PLAIN),  # receipt
    ("TEL 1-300-80-AEON (2366)", PLAIN),  # receipt
    # error codes
    ("error -404 page", PLAIN),  # the second example: -404 is not "avoid 404"
    ("ERR_CONNECTION_REFUSED", PLAIN),
    ("0x80070005", PLAIN),
    ("HTTP 500 - Internal Server Error", PLAIN),
    ("error: -ENOENT (No such file)", PLAIN),
    ("PCL XL ERROR", PLAIN),  # receipt
    # URLs, e-mail addresses, file paths
    ("http://localhost:8080/api/v1?x=1&y=-2", PLAIN),
    ("https://en.wikipedia.org/wiki/Tesseract", PLAIN),  # screenshot
    ("localhost:3000", PLAIN),
    ("john.doe+tag@example.com", PLAIN),
    ("MYNEWSCARELINE@MYNEWS.COM.MY", PLAIN),  # receipt
    ("C:\\Users\\bob\\My Documents\\file-1.txt", PLAIN),
    ("/home/user/.config/imgrag/settings.json", PLAIN),
    ("~/Pictures/2023-07-14 beach/IMG_0042.JPG", PLAIN),
    # code snippets and shell lines
    ("ls -la /tmp", PLAIN),
    ("rm -rf node_modules", PLAIN),
    ("def f(x): return x**2 - 1", PLAIN),
    ('print("hello world")', PLAIN),
    ("if (a < b) { return -1; }", PLAIN),
    ("SELECT * FROM t WHERE a = -1;", PLAIN),
    ("x^2 + y^2 = z^2", PLAIN),
    ("std::vector<int> v;", PLAIN),
    # receipts' lines
    ("QTY(S) : 7", PLAIN),
    ("QTY:2 TABLE:4", PLAIN),
    ("-TAX INVOICE-", PLAIN),
    ("**** THANK YOU ****", PLAIN),
    ("SIEW PAK CHOY +/- IKAT", PLAIN),  # receipt
    ("ALUMINIUM FOIL 25SQ# 30CM*7.62M", PLAIN),  # receipt
    ('RHOMB SCISSORS 4" 2040', PLAIN),  # receipt: a lone quote is an inch mark
    # hyphenated, punctuation, odd pieces
    ("a - b", PLAIN),
    ("state-of-the-art well-known t-shirt", PLAIN),
    ("5'10\" tall", PLAIN),
    ("#hashtag @mention", PLAIN),
    ("v2.3.1-beta --verbose", PLAIN),
    ("(optional)", PLAIN),
    ("-", PLAIN),
    ('""', PLAIN),
    # non-Latin text
    ("東京タワー 夜景", PLAIN),
    ("Привет, мир!", PLAIN),
    ("café crème brûlée", PLAIN),
    ("مرحبا بالعالم", PLAIN),
    ("नमस्ते दुनिया", PLAIN),
    # the operators, in their unambiguous forms
    ("beach -people", "read as: text “beach”, avoid “people”"),
    ("sunset:2 beach", "read as: text “beach”, “sunset” ×2"),
    ("(red car)^2 street", "read as: text “street”, “red car” ×2"),
    ('"SUN-THU:1000 HRS"', "read as: phrase “SUN-THU:1000 HRS”"),
    ('-"blurry photo":0.5 cat', "read as: text “cat”, avoid “blurry photo” ×0.5"),
    ("dog -cat -indoor", "read as: text “dog”, avoid “cat”, avoid “indoor”"),
    ("“red car” tree", "read as: text “tree”, phrase “red car”"),
    ("猫:2 -犬", "read as: “猫” ×2, avoid “犬”"),
    ("error -404 page -blurry", "read as: text “error -404 page”, avoid “blurry”"),
    ("cat:0 dog:11 fish:1.5", "read as: text “cat:0 dog:11”, “fish” ×1.5"),
]
