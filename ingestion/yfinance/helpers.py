"""Yahoo Finance through yfinance: the default downloader and the mapping of yfinance frames to the raw shape.

yfinance reads Yahoo's v8 chart endpoint and returns, per symbol, a frame indexed by session date (midnight,
exchange time zone) with Open/High/Low/Close (split-adjusted by Yahoo), Adj Close (also dividend-adjusted),
Volume, Dividends and Stock Splits (0 on days without an event).

The downloader is the seam between this package and the network: any callable
`(tickers, start, end) -> {ticker: DataFrame | Exception}` works, `end` inclusive. A ticker missing from
the answer, or mapped to an empty frame, got no data; an Exception value is that ticker's failure reason.
yfinance's YFRateLimitError (raised, or as a value) makes the source back off and ask again.

yfinance keeps process-wide state that is not safe to create from several threads at once: its on-disk
time-zone cache (yfinance.cache) is opened lazily, without a lock, by the first `history` call. Four workers
making that first call together can get sqlite's "database is locked" for one ticker. The downloader opens
it on the calling thread before it fans out.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from yfinance.exceptions import YFRateLimitError

from ingestion.common import IngestionError, LoadWindow
from ingestion.config import YahooSettings
from ingestion.symbols import shown, symbol_problem

log = logging.getLogger(__name__)

EXCHANGE_TZ = "America/New_York"
BAR_FIELDS = ["symbol", "d", "open", "high", "low", "close", "adj_close", "volume"]
ACTION_FIELDS = ["symbol", "d", "action", "value"]
PRICE_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close"}

FetchResult = Mapping[str, "pd.DataFrame | BaseException"]
Downloader = Callable[[list[str], dt.date, dt.date], FetchResult]

__all__ = [
    "Downloader",
    "YFRateLimitError",
    "YahooDownloader",
    "YahooSettings",
    "actions_from_frame",
    "bars_from_frame",
    "session_dates",
    "yahoo_ticker",
]


def yahoo_ticker(symbol: str) -> str:
    """Yahoo writes share classes with a dash (BRK-B) where the S&P list writes a dot (BRK.B)."""
    return symbol.strip().upper().replace(".", "-")


class YahooDownloader:
    """The default downloader: `yf.Ticker(t).history(...)` per ticker, a few tickers in parallel.

    Per ticker rather than `yf.download`, because `yf.download` swallows each ticker's exception (rate
    limits included) into an empty column; here a rate limit reaches the source, which backs off, and any
    other error becomes that ticker's failure reason (yfinance is asked to raise rather than log and return an
    empty frame). `session` is passed to yfinance (tests give it one
    that answers from recorded payloads)."""

    def __init__(self, *, session: Any = None, threads: int = 4, timeout_s: float = 20.0) -> None:
        self.session = session
        self.threads = threads
        self.timeout_s = timeout_s

    @staticmethod
    def _open_shared_state() -> None:
        """Open yfinance's time-zone cache here, on one thread, before the workers start.

        yfinance 1.7 creates the cache on first use, unlocked (cache._TzCache.initialise): each thread opens
        its own sqlite connection to a new file and sets `journal_mode=wal` on it, and sqlite refuses the
        second of two concurrent switches with "database is locked" rather than waiting. That ticker's
        `history` then raises before any request is made. Once the file exists in WAL mode, workers opening
        their own connections do not contend. The cookie and crumb need no warming: yfinance fetches them
        under its own lock (data.YfData._cookie_lock)."""
        from yfinance import cache

        try:
            cache.get_tz_cache().lookup("SPY")  # any key: the first lookup creates the cache
        except Exception as exc:  # noqa: BLE001 - not fatal: a worker that hits it reports it for its ticker
            log.warning("could not open yfinance's time-zone cache before fetching: %s: %s", type(exc).__name__, exc)

    def _one(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame | BaseException:
        import yfinance as yf

        problem = symbol_problem(ticker)
        if problem:
            # The ticker goes into the URL path: only a real ticker may (not `A?X=1&Y=2`, `A/../../B`).
            return IngestionError(f"not a ticker: {shown(ticker)} ({problem[1]}); not sent to Yahoo")
        try:
            return yf.Ticker(ticker, session=self.session).history(
                start=start,
                end=end + dt.timedelta(days=1),  # yfinance's end is exclusive, ours inclusive
                interval="1d",
                auto_adjust=False,
                back_adjust=False,
                actions=True,
                repair=False,
                keepna=False,
                timeout=self.timeout_s,
                # Without it yfinance logs the error and returns an empty frame (history.py, hide_exceptions):
                # a dropped connection would read as "no data". Deprecated in 1.7 for a process-wide switch
                # (yf.config.debug.hide_exceptions) that would change yfinance for every caller; pinned 1.7.0.
                raise_errors=True,
            )
        except Exception as exc:  # noqa: BLE001 - every error is this ticker's failure reason
            return exc

    def __call__(self, tickers: list[str], start: dt.date, end: dt.date) -> dict[str, pd.DataFrame | BaseException]:
        with warnings.catch_warnings():
            # yfinance 1.7 trips pandas 3 deprecation warnings on every call; they are not ours to fix.
            warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
            warnings.filterwarnings("ignore", message=r"'raise_errors' deprecated", category=DeprecationWarning)
            self._open_shared_state()
            with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(tickers)))) as pool:
                futures = {t: pool.submit(self._one, t, start, end) for t in tickers}
                return {t: f.result() for t, f in futures.items()}


def session_dates(index: pd.Index) -> pd.Series:
    """Index of a yfinance frame -> exchange dates. yfinance labels a daily bar with midnight of the session
    in the exchange zone; raw chart timestamps are the 09:30 New York open. Converting to New York before
    taking the date gives the session date for both (a UTC date would be right only by luck)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(index))
    if stamps.tz is not None:
        stamps = stamps.tz_convert(EXCHANGE_TZ)
    return pd.Series(stamps.date, index=range(len(stamps)), dtype=object)


def _window_mask(dates: pd.Series, window: LoadWindow | None, cutoff: dt.date | None) -> pd.Series:
    keep = pd.Series(True, index=dates.index)
    if window is not None:
        keep &= (dates >= window.start) & (dates <= window.end)
    if cutoff is not None:
        keep &= dates <= cutoff
    return keep


def bars_from_frame(
    symbol: str, frame: pd.DataFrame, *, window: LoadWindow | None = None, cutoff: dt.date | None = None
) -> pd.DataFrame:
    """One yfinance frame -> columns symbol, d, open, high, low, close, adj_close, volume, oldest first.
    Rows with no price at all (event-only rows) are not bars; everything else is passed on as sent."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=BAR_FIELDS)
    out = pd.DataFrame({"symbol": symbol.upper(), "d": session_dates(frame.index)})
    for src, dst in PRICE_COLUMNS.items():
        out[dst] = frame[src].to_numpy(dtype="float64") if src in frame.columns else float("nan")
    out["volume"] = frame["Volume"].to_numpy(dtype="float64") if "Volume" in frame.columns else float("nan")
    has_price = out[["open", "high", "low", "close"]].notna().any(axis=1)
    out = out[has_price & _window_mask(out["d"], window, cutoff)]
    return out.sort_values("d", kind="stable")[BAR_FIELDS].reset_index(drop=True)


def actions_from_frame(
    symbol: str, frame: pd.DataFrame, *, window: LoadWindow | None = None, cutoff: dt.date | None = None
) -> pd.DataFrame:
    """Non-zero `Stock Splits` -> ('split', ratio: 4.0 for 4:1); non-zero `Dividends` -> ('dividend', cash
    per share, split-adjusted as Yahoo reports it)."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=ACTION_FIELDS)
    dates = session_dates(frame.index)
    parts = []
    for column, action in (("Stock Splits", "split"), ("Dividends", "dividend")):
        if column not in frame.columns:
            continue
        values = pd.Series(frame[column].to_numpy(dtype="float64"), index=dates.index)
        hit = values.notna() & (values != 0) & _window_mask(dates, window, cutoff)
        if hit.any():
            parts.append(
                pd.DataFrame({"symbol": symbol.upper(), "d": dates[hit], "action": action, "value": values[hit]})
            )
    if not parts:
        return pd.DataFrame(columns=ACTION_FIELDS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["d", "action"], kind="stable")[ACTION_FIELDS].reset_index(drop=True)
