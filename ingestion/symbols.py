"""What a ticker may look like: one rule for every source, checked at the door before anything is written.

Real tickers are short and use capital letters, digits and `.`, `-`, `^`, `=` (BRK.B, BF-B, EURUSD=X).
Anything else (a 10,000-character cell, a NUL byte, `A?X=1&Y=2`, `A/../../B`) is not a ticker: the row is
rejected with a reason instead of being stored, where it could break the raw table's unique index, or
sent to a vendor inside a URL.

rapidtrader.settings has the same pattern (TICKER_PATTERN) for settings such as RT_MARKET_FILTER_SYMBOL;
ingestion imports nothing from rapidtrader, so the pattern is repeated here and a test keeps both equal.
"""

from __future__ import annotations

import re

TICKER_PATTERN = r"[A-Z0-9][A-Z0-9.\-^=]{0,14}"
MAX_SYMBOL_LENGTH = 15
# The same rule for Postgres (used to move rows stored before this check existed out of the raw tables).
SQL_TICKER_REGEX = "^" + TICKER_PATTERN + "$"

_TICKER = re.compile(TICKER_PATTERN + r"\Z")
# How much of a rejected symbol is kept for people to read (never indexed, never sent anywhere).
SHOWN_LENGTH = 32


def normalize(text: str) -> str:
    """Symbols are compared upper-case and without surrounding blanks (` aapl` is AAPL)."""
    return text.strip().upper()


def symbol_problem(value: object) -> tuple[str, str] | None:
    """None for a valid symbol (after `normalize`), else (reason, detail): reason is `missing_symbol` or
    `invalid_symbol`, detail says what is wrong in words."""
    if value is None or (isinstance(value, float) and value != value):
        return "missing_symbol", "no symbol"
    if not isinstance(value, str):
        return "invalid_symbol", f"the symbol is a {type(value).__name__}, not text"
    text = normalize(value)
    if text == "":
        return "missing_symbol", "the symbol is empty"
    if _TICKER.match(text):
        return None
    if len(text) > MAX_SYMBOL_LENGTH:
        return "invalid_symbol", f"the symbol is {len(text)} characters long (at most {MAX_SYMBOL_LENGTH})"
    bad = sorted({c for c in text if not (c.isascii() and (c.isalnum() or c in ".-^="))})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        return "invalid_symbol", f"the symbol has characters no ticker uses ({shown})"
    return "invalid_symbol", "a ticker starts with a capital letter or a digit"


def is_valid(value: object) -> bool:
    return symbol_problem(value) is None


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """A bad value as people can read it and Postgres can store it: control characters (NUL included)
    escaped, cut to `limit` characters with the original length noted."""
    if not isinstance(value, str) and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar reads as its plain value
    text = value if isinstance(value, str) else str(value)
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit * 2])
    if len(text) > limit or len(out) > limit:
        return out[:limit] + f"...({len(text)} chars)"
    return out
