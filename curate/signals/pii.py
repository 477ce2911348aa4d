"""Personal data signals: e-mail addresses, phone numbers, IP addresses and payment card numbers."""

from __future__ import annotations

import polars as pl

PII_COLUMNS = {
    "pii_email": "an e-mail address appears in the prompt or response",
    "pii_phone": "a phone number appears (international or North American shapes)",
    "pii_ip": "an IPv4 address appears",
    "pii_card": "a 13-19 digit payment card number shape appears",
}

_EMAIL = r"[\w.+-]+@[\w-]+\.[\w.-]*[a-zA-Z]{2,}"
_PHONE = r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"
_IP = r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
# Grouped in fours, or a 13-19 digit run led by 3-6 that is not the fraction of a decimal number.
_CARD = r"\b(?:\d{4}[ -]){3}\d{1,7}\b|(?:^|[^\d.])[3-6]\d{12,18}\b"


def pii_signals() -> list[pl.Expr]:
    text = pl.col("prompt") + "\n" + pl.col("response")
    return [
        text.str.contains(_EMAIL).alias("pii_email"),
        text.str.contains(_PHONE).alias("pii_phone"),
        text.str.contains(_IP).alias("pii_ip"),
        text.str.contains(_CARD).alias("pii_card"),
    ]
