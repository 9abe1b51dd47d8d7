"""Financial Modeling Prep: HTTP access and mapping of FMP payloads to the raw shape in ingestion.common.

HTTP goes through dlt's `requests` client, which retries 429 and 5xx responses and connection errors with
exponential backoff and honours `Retry-After`; on top of that a small client-side pacer keeps us under the
plan's calls-per-minute limit, so a full-universe load does not trip 429s in the first place.

One parser reads both FMP shapes, because accounts and docs still mix them:
- stable (`/stable/...?symbol=X`): a flat list of records, each with `symbol` and `date`;
- legacy v3 (`/api/v3/...`): `{"symbol": X, "historical": [...]}`, newest first, volumes sometimes written in
  E-notation (`6.3890796E7`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from dlt.sources.helpers.requests import ChunkedEncodingError, Client, Timeout
from dlt.sources.helpers.requests import ConnectionError as RequestsConnectionError

from ingestion.common import IngestionError, LoadWindow
from ingestion.config import FmpSettings
from ingestion.door import ISO_DATE
from ingestion.scrub import scrub, scrub_library_logs
from ingestion.symbols import shown, symbol_problem

log = logging.getLogger(__name__)

# Paths are relative to the stable API's base (DEFAULT_BASE_URL; RT_FMP_BASE_URL in rapidtrader's settings).
PRICE_PATH = "/historical-price-eod/full"
ADJUSTED_PATH = "/historical-price-eod/dividend-adjusted"
SPLITS_PATH = "/splits"
DIVIDENDS_PATH = "/dividends"
CONSTITUENTS_PATH = "/sp500-constituent"
HISTORICAL_CONSTITUENTS_PATH = "/historical-sp500-constituent"
SYMBOL_CHANGE_PATH = "/symbol-change"
# /symbol-change returns the newest changes first, a limited number of them unless asked for more.
SYMBOL_CHANGE_LIMIT = 100_000

# FMP labels sectors the Morningstar way; the warehouse speaks GICS (the sector ETFs XLK, XLV, ... are GICS).
# Labels that are already GICS names, or that we do not know, pass through unchanged.
FMP_SECTOR_TO_GICS: dict[str, str] = {
    "Basic Materials": "Materials",
    "Communication Services": "Communication Services",
    "Consumer Cyclical": "Consumer Discretionary",
    "Consumer Defensive": "Consumer Staples",
    "Energy": "Energy",
    "Financial Services": "Financials",
    "Healthcare": "Health Care",
    "Industrials": "Industrials",
    "Real Estate": "Real Estate",
    "Technology": "Information Technology",
    "Utilities": "Utilities",
}

BAR_FIELDS = ["symbol", "d", "open", "high", "low", "close", "adj_close", "volume"]
ACTION_FIELDS = ["symbol", "d", "action", "value"]


# FMP's words for a refused key ("Invalid API KEY", "api_key"), not a quoted `apikey=` URL parameter.
AUTH_MESSAGE = re.compile(r"\bapi[ _]?key\b(?!\s*=)", re.IGNORECASE)


class FmpAuthError(IngestionError):
    """FMP refused the API key: fatal, every later call would fail the same way."""


class FmpRequestError(Exception):
    """One request failed after retries (HTTP error, bad payload): that symbol fails, the run goes on."""


class FmpUnreachable(FmpRequestError):
    """No HTTP answer at all (DNS, refused, timeout) after retries."""


class RateLimiter:
    """Spaces calls evenly (at most `calls_per_min` a minute). Even spacing rather than a burst bucket,
    because FMP counts per minute and a burst at a minute boundary is what earns 429s."""

    def __init__(
        self,
        calls_per_min: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 60.0 / calls_per_min if calls_per_min > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


class FmpClient:
    """GET + JSON against FMP with retries, pacing, and errors sorted into fatal (key) and per-symbol."""

    def __init__(self, base_url: str, api_key: str, settings: FmpSettings) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        scrub_library_logs()  # urllib3 logs request URLs, key included, at debug level
        self._limiter = RateLimiter(settings.max_calls_per_min)
        self._http = Client(
            request_timeout=settings.timeout_s,
            raise_for_status=False,
            request_max_attempts=settings.max_attempts,
            request_backoff_factor=settings.backoff_factor,
            request_max_retry_delay=settings.max_retry_delay_s,
            respect_retry_after_header=True,
        )
        self.key_accepted = False

    def redact(self, text: object) -> str:
        """Error texts quote URLs and FMP's error bodies quote the request: the key must never reach an
        exception, a log line or the job report."""
        return scrub(text, (self._api_key,))

    def get_json(self, path: str, **params: Any) -> Any:
        symbol = params.get("symbol")
        if symbol is not None and symbol_problem(symbol):
            # The one ticker rule, also here: nothing that is not a ticker goes into a request.
            raise FmpRequestError(f"not a ticker: {shown(symbol)} ({symbol_problem(symbol)[1]})")
        self._limiter.wait()
        url = f"{self.base_url}{path}"
        try:
            response = self._http.get(url, params={**params, "apikey": self._api_key})
        except (RequestsConnectionError, Timeout, ChunkedEncodingError) as exc:
            raise FmpUnreachable(self.redact(f"FMP unreachable ({type(exc).__name__}: {exc})")) from None
        except Exception as exc:  # noqa: BLE001 - requests quotes the URL (and the key) in its errors
            raise FmpRequestError(self.redact(f"request to {path} failed ({type(exc).__name__}: {exc})")) from None
        status = response.status_code
        if status in (401, 403):
            raise FmpAuthError(
                f"FMP rejected the API key (HTTP {status} on {path}): check RT_FMP_API_KEY and that your "
                "plan covers this endpoint"
            )
        if status >= 400:
            body = self.redact(response.text[:200].strip())
            hint = " (rate limit: lower RT_FMP_MAX_CALLS_PER_MIN)" if status == 429 else ""
            raise FmpRequestError(f"HTTP {status} from {path} after retries{hint}: {body}")
        try:
            payload = response.json()
        except ValueError:
            raise FmpRequestError(self.redact(f"{path} answered with non-JSON: {response.text[:120]!r}")) from None
        message = payload.get("Error Message") if isinstance(payload, dict) else None
        if message:
            # Legacy endpoints answer 200 with an error object; an invalid key is still fatal.
            text = self.redact(str(message)[:300])
            if AUTH_MESSAGE.search(str(message)):
                raise FmpAuthError(f"FMP rejected the API key ({text}): check RT_FMP_API_KEY")
            raise FmpRequestError(f"{path}: {text}")
        self.key_accepted = True
        return payload


# ---------------------------------------------------------------------------------------------------------
# Payload parsing (pure functions: recorded payloads in tests go through exactly this code)
# ---------------------------------------------------------------------------------------------------------


def records(payload: Any) -> list[dict]:
    """The list of row dicts from either shape: stable (flat list) or legacy v3 ({symbol, historical})."""
    if payload is None:
        return []
    if isinstance(payload, list):
        return [r for r in payload if isinstance(r, dict)]
    if isinstance(payload, dict):
        if payload.get("Error Message"):
            raise FmpRequestError(scrub(str(payload["Error Message"])[:300]))
        rows = payload.get("historical")
        if rows is None:
            return []
        symbol = payload.get("symbol")
        return [{**({"symbol": symbol} if symbol else {}), **r} for r in rows if isinstance(r, dict)]
    raise FmpRequestError(f"unexpected payload type {type(payload).__name__}")


def _parse_dates(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(`d`: datetime.date where the payload has a date YYYY-MM-DD, else the value as sent, so the door
    rejects that row with its reason instead of it being dropped or guessed; sort key, NaT when unread)."""
    sent = frame["date"] if "date" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    text = sent.map(lambda v: v.strip() if isinstance(v, str) else None)
    iso = text.map(lambda v: bool(v is not None and ISO_DATE.fullmatch(v)))
    stamps = pd.to_datetime(text.where(iso), format="%Y-%m-%d", errors="coerce")
    d = pd.Series([ts.date() if not pd.isna(ts) else v for ts, v in zip(stamps, sent, strict=True)], index=frame.index)
    return d, stamps


def _keep(stamps: pd.Series, window: LoadWindow | None, cutoff: dt.date | None) -> pd.Series:
    """Rows inside the window and not after the cutoff; rows without a readable date are kept for the door."""
    dates = stamps.dt.date
    keep = pd.Series(True, index=stamps.index)
    if window is not None:
        last = min(window.end, cutoff or window.end)
        keep &= stamps.isna() | ((dates >= window.start) & (dates <= last))
    elif cutoff is not None:
        keep &= stamps.isna() | (dates <= cutoff)
    return keep


def bars_frame(
    symbol: str,
    payload: Any,
    *,
    adjusted_payload: Any = None,
    window: LoadWindow | None = None,
    cutoff: dt.date | None = None,
) -> pd.DataFrame:
    """FMP price payload (stable or v3) -> columns symbol, d, open, high, low, close, adj_close, volume,
    oldest first. adj_close comes from the v3 `adjClose` when present, else from the dividend-adjusted
    payload by date, else stays null. Rows outside `window` or after `cutoff` (the last completed session)
    are left out. Values are passed on as sent: staging decides what is bad."""
    rows = records(payload)
    if not rows:
        return pd.DataFrame(columns=BAR_FIELDS)
    frame = pd.DataFrame.from_records(rows)
    for col in ("open", "high", "low", "close", "volume"):
        if col not in frame.columns:
            frame[col] = None
    frame["d"], stamps = _parse_dates(frame)
    if "adjClose" in frame.columns:
        frame["adj_close"] = frame["adjClose"]
    else:
        adjusted = adjusted_closes(adjusted_payload)
        frame["adj_close"] = [adjusted.get(v) if isinstance(v, dt.date) else None for v in frame["d"]]
    frame["symbol"] = symbol.upper()
    frame["_sort"] = stamps
    frame = frame[_keep(stamps, window, cutoff)]
    # Oldest first; a stable sort keeps repeated dates in arrival order for dup_seq.
    frame = frame.sort_values("_sort", kind="stable", na_position="last")
    return frame[BAR_FIELDS].reset_index(drop=True)


def adjusted_closes(payload: Any) -> dict[dt.date, Any]:
    """date -> adjClose from the dividend-adjusted endpoint ({date, adjOpen, adjHigh, adjLow, adjClose})."""
    out: dict[dt.date, Any] = {}
    for row in records(payload):
        when = pd.to_datetime(row.get("date"), errors="coerce")
        if pd.notna(when) and "adjClose" in row:
            out[when.date()] = row["adjClose"]
    return out


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def split_ratio(row: Mapping[str, Any]) -> float:
    """New shares per old share: numerator/denominator (4:1 -> 4.0). Missing or zero parts give NaN, which
    staging quarantines instead of us guessing."""
    num, den = _number(row.get("numerator")), _number(row.get("denominator"))
    if num > 0 and den > 0:
        return num / den
    return float("nan")


def dividend_amount(row: Mapping[str, Any]) -> float:
    """Cash per share, split-adjusted (`adjDividend`) when FMP gives it: FMP's and Yahoo's prices are
    split-adjusted, so a split-adjusted dividend divides by the close of the same scale."""
    value = row.get("adjDividend")
    if value is None:
        value = row.get("dividend")
    return _number(value)


def actions_frame(
    symbol: str,
    splits_payload: Any = None,
    dividends_payload: Any = None,
    *,
    window: LoadWindow | None = None,
    cutoff: dt.date | None = None,
) -> pd.DataFrame:
    """Splits and dividends (stable or v3 shape) -> columns symbol, d, action, value."""
    rows = [("split", r, split_ratio(r)) for r in records(splits_payload)]
    rows += [("dividend", r, dividend_amount(r)) for r in records(dividends_payload)]
    if not rows:
        return pd.DataFrame(columns=ACTION_FIELDS)
    frame = pd.DataFrame(
        {
            "symbol": symbol.upper(),
            "date": [r.get("date") for _, r, _ in rows],
            "action": [a for a, _, _ in rows],
            "value": [v for _, _, v in rows],
        }
    )
    frame["d"], stamps = _parse_dates(frame)
    frame["_sort"] = stamps
    frame = frame[_keep(stamps, window, cutoff)]
    frame = frame.sort_values(["_sort", "action"], kind="stable", na_position="last")
    return frame[ACTION_FIELDS].reset_index(drop=True)


def gics_sector(label: Any) -> Any:
    if isinstance(label, str):
        return FMP_SECTOR_TO_GICS.get(label.strip(), label)
    return label


def constituents_frame(payload: Any) -> pd.DataFrame:
    """`sp500-constituent` records ({symbol, name, sector, subSector, dateFirstAdded, ...}) -> columns
    symbol, name, sector (GICS), sub_industry, date_added."""
    rows = records(payload)
    cols = ["symbol", "name", "sector", "sub_industry", "date_added"]
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame.from_records(rows)
    for col in ("name", "sector", "subSector", "dateFirstAdded"):
        if col not in frame.columns:
            frame[col] = None
    # Symbols are checked at the door (a missing or malformed one is rejected there, not dropped here).
    frame["symbol"] = frame["symbol"].map(lambda v: v.strip().upper() if isinstance(v, str) else v)
    frame["sector"] = frame["sector"].map(gics_sector)
    frame = frame.rename(columns={"subSector": "sub_industry", "dateFirstAdded": "date_added"})
    return frame[cols].reset_index(drop=True)


def _blank(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())
    )


def membership_events_frame(payload: Any) -> pd.DataFrame:
    """`historical-sp500-constituent` records ({date, symbol, addedSecurity, removedTicker, removedSecurity,
    dateAdded, reason}) -> columns symbol, date, action, name, reason. Each record is an 'added' of `symbol`
    and, when removedTicker is not empty, a 'removed' of removedTicker, both on `date` (`dateAdded`, a
    worded date such as 'July 9, 2025', is not read). Values pass as sent: the door checks them; `_row` is
    the record's place in the response (1 = first), for the rejects."""
    cols = ["symbol", "date", "action", "name", "reason", "_row"]
    rows = []
    for i, r in enumerate(records(payload), start=1):
        rows.append([r.get("symbol"), r.get("date"), "added", r.get("addedSecurity"), r.get("reason"), i])
        removed = r.get("removedTicker")
        if not _blank(removed):
            rows.append([removed, r.get("date"), "removed", r.get("removedSecurity"), r.get("reason"), i])
    return pd.DataFrame(rows, columns=cols)


def symbol_changes_frame(payload: Any) -> pd.DataFrame:
    """`symbol-change` records ({date, companyName, oldSymbol, newSymbol}) -> columns old_symbol, new_symbol,
    date (the first day under newSymbol), name, _row (the record's place in the response)."""
    cols = ["old_symbol", "new_symbol", "date", "name", "_row"]
    rows = [
        [r.get("oldSymbol"), r.get("newSymbol"), r.get("date"), r.get("companyName"), i]
        for i, r in enumerate(records(payload), start=1)
    ]
    return pd.DataFrame(rows, columns=cols)


def date_chunks(window: LoadWindow, days: int) -> list[tuple[dt.date, dt.date]]:
    """Cut [start, end] into consecutive, non-overlapping pieces of at most `days` days."""
    pieces = []
    start = window.start
    while start <= window.end:
        end = min(window.end, start + dt.timedelta(days=days - 1))
        pieces.append((start, end))
        start = end + dt.timedelta(days=1)
    return pieces


def dedupe(symbols: Iterable[str]) -> list[str]:
    """Upper-cased, first occurrence kept, order kept (so reports list symbols as asked)."""
    seen: dict[str, None] = {}
    for s in symbols:
        key = str(s).strip().upper()
        if key:
            seen.setdefault(key, None)
    return list(seen)
