"""Yahoo Finance (through yfinance) as a dlt source: daily bars and splits/dividends, no API key needed.

Layout as in dlt's verified sources: the @dlt.source and its resources here, the downloader and the frame
mapping in helpers.py. Loads into raw_yfinance with the shared raw shape (ingestion.common).

One Yahoo call per symbol returns both prices and events, so the two resources share one fetch: symbols go
in batches (same window, at most RT_YF_BATCH_SIZE each, RT_YF_SLEEP seconds apart) and each batch feeds both
the bars and the corporate_actions table. The first batch is fetched when the source is built, so an
offline or blocked Yahoo fails before dlt starts, with a plain IngestionError.

Settings arrive as a YahooSettings (rapidtrader fills it from RT_YF_*: batch size, sleep between batches,
attempts, backoff doubled per rate-limited attempt, threads, timeout); nothing here reads the environment.
Every row passes the door (ingestion.door); a symbol that is not a ticker never reaches a Yahoo URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dlt
import pandas as pd
import pyarrow as pa

from ingestion.common import (
    MARKET_SYMBOLS,
    FetchReport,
    IngestionError,
    LoadWindow,
    chunked,
    in_scope,
    last_completed_session,
    now_utc,
    rejects_resource,
    replaces,
    window_scope,
)
from ingestion.contract import BARS, CORPORATE_ACTIONS
from ingestion.door import action_table, bar_table, check_actions, check_bars
from ingestion.symbols import shown, symbol_problem
from ingestion.yfinance.helpers import (
    Downloader,
    YahooDownloader,
    YahooSettings,
    YFRateLimitError,
    actions_from_frame,
    bars_from_frame,
    yahoo_ticker,
)

log = logging.getLogger(__name__)

WindowsFn = Callable[[list[str]], dict[str, LoadWindow]]
Clock = Callable[[], pd.Timestamp]

SOURCE_REF = "yfinance:v8/finance/chart"
NO_DATA = "no data returned: delisted, wrong ticker or Yahoo unreachable"
# With this many symbols tried and not one answered, Yahoo is offline or blocking us: stop early.
FAIL_FAST_AFTER = 20


def _dedupe(symbols: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for s in symbols:
        key = str(s).strip().upper()
        if key:
            seen.setdefault(key, None)
    return list(seen)


def plan_batches(windows: dict[str, LoadWindow], size: int) -> list[tuple[list[str], LoadWindow]]:
    """Symbols sharing a window go together (one Yahoo date range per call), at most `size` per batch."""
    groups: dict[LoadWindow, list[str]] = {}
    for symbol, window in windows.items():
        groups.setdefault(window, []).append(symbol)
    return [(batch, window) for window, syms in groups.items() for batch in chunked(syms, size)]


def _reason(error: BaseException, attempts: int) -> str:
    if isinstance(error, YFRateLimitError):
        return (
            f"rate limited by Yahoo after {attempts} attempts: re-run later, or raise RT_YF_SLEEP / "
            "lower RT_YF_BATCH_SIZE"
        )
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status is not None:
        detail = f"HTTP {status}"  # the URL in the message says nothing the symbol does not
    else:
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__
    return f"{NO_DATA} ({detail})"


class _YahooRun:
    """Fetches batches on demand and hands each batch's bars and actions to whichever resource asks first;
    the other gets its part from the cache. Works whatever order dlt pulls the resources in."""

    def __init__(
        self,
        batches: list[tuple[list[str], LoadWindow]],
        fetch: Downloader,
        report: FetchReport,
        settings: YahooSettings,
        cutoff: dt.date,
        loaded_at: pd.Timestamp,
    ) -> None:
        self.batches = batches
        self.fetch = fetch
        self.report = report
        self.settings = settings
        self.cutoff = cutoff
        self.loaded_at = loaded_at
        self.total = sum(len(b) for b, _ in batches)
        self.attempted = 0
        self.succeeded = 0
        self.calls = 0
        self._results: dict[int, dict[str, pa.Table | None]] = {}
        self._done: set[int] = set()
        self.rejected: list[pd.DataFrame] = []
        self.started: set[str] = set()
        self.finished: set[str] = set()

    def _call(self, tickers: list[str], window: LoadWindow) -> dict[str, Any]:
        if self.calls and self.settings.sleep_s:
            time.sleep(self.settings.sleep_s)  # throttle between calls, not before the first
        self.calls += 1
        try:
            return dict(self.fetch(tickers, window.start, window.end))
        except Exception as exc:  # noqa: BLE001 - a failed call is every ticker's failure (or a rate limit)
            return {t: exc for t in tickers}

    def _download(self, symbols: list[str], window: LoadWindow) -> dict[str, Any]:
        """Ask for the batch; tickers that hit a rate limit are asked again after an exponential backoff."""
        by_ticker = {yahoo_ticker(s): s for s in symbols}
        answers: dict[str, Any] = {}
        pending = list(by_ticker)
        for attempt in range(self.settings.max_attempts):
            got = self._call(pending, window)
            limited = [t for t in pending if isinstance(got.get(t), YFRateLimitError)]
            answers.update({t: got.get(t) for t in pending})
            if not limited:
                break
            if attempt + 1 < self.settings.max_attempts:
                delay = self.settings.backoff_s * 2**attempt
                log.warning("Yahoo rate limit on %d ticker(s); retrying in %.0f s", len(limited), delay)
                time.sleep(delay)
            pending = limited
        return {symbol: answers.get(ticker) for ticker, symbol in by_ticker.items()}

    def _convert(self, symbols: list[str], window: LoadWindow, answers: dict[str, Any]) -> dict[str, pa.Table | None]:
        bars, actions = [], []
        for symbol in symbols:
            answer = answers.get(symbol)
            if isinstance(answer, BaseException):
                self.report.fail(symbol, _reason(answer, self.settings.max_attempts))
                continue
            if not isinstance(answer, pd.DataFrame) or answer.empty:
                self.report.fail(symbol, NO_DATA)
                continue
            checked = check_bars(
                bars_from_frame(symbol, answer, window=window, cutoff=self.cutoff), SOURCE_REF, self.loaded_at
            )
            self._rejects(checked.rejects)
            newest = max(checked.accepted["d"]) if not checked.accepted.empty else None
            self.report.ok(symbol, len(checked.accepted), newest)
            self.succeeded += 1
            if not checked.accepted.empty:
                bars.append(checked.accepted)
            events = check_actions(
                actions_from_frame(symbol, answer, window=window, cutoff=self.cutoff), SOURCE_REF, self.loaded_at
            )
            self._rejects(events.rejects)
            if not events.accepted.empty:
                actions.append(events.accepted)
        # One Arrow table per batch and kind: few large tables load fast, one per symbol would not.
        return {
            "bars": bar_table(bars) if bars else None,
            "actions": action_table(actions) if actions else None,
        }

    def _rejects(self, rejects: pd.DataFrame) -> None:
        if not rejects.empty:
            self.rejected.append(rejects)
            self.report.reject(rejects)

    def _check_alive(self) -> None:
        if self.succeeded == 0 and self.attempted >= min(self.total, FAIL_FAST_AFTER):
            raise IngestionError(
                f"Yahoo returned nothing for any symbol: offline or blocked (tried {self.attempted}); "
                "check the network, wait an hour if rate limited, or load with --source fmp/sample"
            )

    def ensure(self, i: int) -> None:
        if i in self._done:
            return
        symbols, window = self.batches[i]
        answers = self._download(symbols, window)
        self._results[i] = self._convert(symbols, window, answers)
        self._done.add(i)
        self.attempted += len(symbols)
        self._check_alive()

    def tables(self, kind: str) -> Iterator[pa.Table]:
        self.started.add(kind)
        for i in range(len(self.batches)):
            self.ensure(i)
            parts = self._results[i]
            table = parts.pop(kind, None)
            if not parts:
                del self._results[i]
            if table is not None:
                yield table
        # Always one (possibly empty) table: the load must replace the windows even when nothing came.
        yield (bar_table if kind == "bars" else action_table)([])
        self.finished.add(kind)


@dlt.source(name="yfinance")
def yfinance_source(
    symbols: list[str],
    windows_fn: WindowsFn,
    report: FetchReport,
    *,
    settings: YahooSettings | None = None,
    downloader: Downloader | None = None,
    clock: Clock | None = None,
):
    """Bars and corporate actions from Yahoo for `symbols` plus the benchmark and sector ETFs.

    `windows_fn` gives each symbol's date window; `report` collects per-symbol outcomes. `downloader`
    replaces the network (see helpers.Downloader); `clock` (a callable returning a UTC pd.Timestamp) is for
    tests: bars after the last completed session are never stored. Each symbol's raw rows inside its window
    are replaced by what Yahoo sends now."""
    settings = settings or YahooSettings()
    fetch = downloader or YahooDownloader(threads=settings.threads, timeout_s=settings.timeout_s)
    asked = _dedupe([*symbols, *MARKET_SYMBOLS])
    universe = [s for s in asked if symbol_problem(s) is None]
    report.requested = [s if s in universe else shown(s) for s in asked]
    for bad in asked:
        if bad not in universe:
            report.fail(shown(bad), f"not a ticker ({symbol_problem(bad)[1]}): not sent to Yahoo")
    cutoff = last_completed_session(clock() if clock else None)
    windows = windows_fn(universe)
    for symbol in universe:
        if symbol not in windows:
            report.ok(symbol, 0)  # nothing to fetch: up to date
    run = _YahooRun(plan_batches(windows, settings.batch_size), fetch, report, settings, cutoff, now_utc())
    if run.batches:
        run.ensure(0)

    def bars() -> Iterator[pa.Table]:
        yield from run.tables("bars")

    def corporate_actions() -> Iterator[pa.Table]:
        yield from run.tables("actions")

    scope = window_scope(windows)
    reject_scope = f"kind in ('bars', 'corporate_actions') and {in_scope('symbol_text', universe)}"
    return (
        replaces(dlt.resource(bars, name="bars"), BARS, scope),
        replaces(dlt.resource(corporate_actions, name="corporate_actions"), CORPORATE_ACTIONS, scope),
        rejects_resource(run.rejected, reject_scope, producers_done=lambda: run.started <= run.finished),
    )
