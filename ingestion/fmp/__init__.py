"""Financial Modeling Prep as a dlt source: daily bars, splits and dividends, the S&P 500 list, and the
index's membership changes and ticker changes.

Layout as in dlt's verified sources: the @dlt.source and its resources here, the HTTP client and payload
mapping in helpers.py. Loads into raw_fmp with the shared raw shape (ingestion.common): bars and
corporate_actions merge on their natural keys; constituents, membership_events (from
/historical-sp500-constituent) and ticker_changes (from /symbol-change) are replaced whole, and only when
FMP sent rows: an endpoint the plan does not cover, or one that fails after retries, leaves the stored rows
as they were and says so in the run's summary (dbt uses FMP's events only after the last bundled one).

Failure policy: a symbol that still fails after retries is recorded in the FetchReport and skipped. The run
stops with an IngestionError only when going on is pointless: no API key, the key is rejected, or FMP does
not answer at all. Every row passes the door (ingestion.door); refused rows go to `rejects`. A symbol that
is not a ticker is never sent to FMP.

Settings arrive as an FmpSettings (rapidtrader fills it from RT_FMP_*); nothing here reads the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import dlt
import pandas as pd
import pyarrow as pa

from ingestion.common import (
    MARKET_SYMBOLS,
    FetchReport,
    IngestionError,
    LoadWindow,
    in_scope,
    last_completed_session,
    now_utc,
    rejects_resource,
    replaces,
    window_scope,
)
from ingestion.contract import BARS, CONSTITUENTS, CORPORATE_ACTIONS, MEMBERSHIP_EVENTS, TICKER_CHANGES, RawTable
from ingestion.door import (
    Checked,
    action_table,
    bar_table,
    check_actions,
    check_bars,
    check_constituents,
    check_membership_events,
    check_ticker_changes,
    constituent_table,
    contract_table,
)
from ingestion.fmp.helpers import (
    ADJUSTED_PATH,
    CONSTITUENTS_PATH,
    DIVIDENDS_PATH,
    HISTORICAL_CONSTITUENTS_PATH,
    PRICE_PATH,
    SPLITS_PATH,
    SYMBOL_CHANGE_LIMIT,
    SYMBOL_CHANGE_PATH,
    FmpAuthError,
    FmpClient,
    FmpRequestError,
    FmpSettings,
    FmpUnreachable,
    actions_frame,
    bars_frame,
    constituents_frame,
    date_chunks,
    dedupe,
    membership_events_frame,
    records,
    scrub,
    symbol_changes_frame,
)
from ingestion.symbols import shown, symbol_problem

log = logging.getLogger(__name__)

WindowsFn = Callable[[list[str]], dict[str, LoadWindow]]
Clock = Callable[[], pd.Timestamp]

# Symbols per yielded Arrow table: few, large tables load fast; one table per symbol would not.
TABLE_BATCH = 50
BAR_REF = f"fmp:/stable{PRICE_PATH}"
ACTION_REF = f"fmp:/stable{SPLITS_PATH}+/stable{DIVIDENDS_PATH}"
CONSTITUENTS_REF = f"fmp:/stable{CONSTITUENTS_PATH}"
EVENTS_REF = f"fmp:/stable{HISTORICAL_CONSTITUENTS_PATH}"
TICKER_CHANGES_REF = f"fmp:/stable{SYMBOL_CHANGE_PATH}"


class _Reachability:
    """Ends the run early when FMP never answers: `limit` connection failures in a row before any answer
    means the network (or base URL) is the problem, and waiting out retries for 500 symbols would only
    delay the same verdict."""

    def __init__(self, base_url: str, total: int, limit: int = 3) -> None:
        self.base_url = base_url
        self.limit = max(1, min(limit, total))
        self.answered_any = False
        self.misses = 0

    def answered(self) -> None:
        self.answered_any = True

    def unreachable(self) -> None:
        self.misses += 1
        if not self.answered_any and self.misses >= self.limit:
            raise IngestionError(
                f"FMP unreachable at {self.base_url} for every symbol tried: check the network or proxy "
                "(or load with --source yfinance)"
            )


class _Fetcher:
    """Per-symbol fetches. Keeps one piece of run state: whether the dividend-adjusted endpoint is usable."""

    def __init__(self, client: FmpClient, settings: FmpSettings, cutoff) -> None:
        self.client = client
        self.settings = settings
        self.cutoff = cutoff
        self.fetch_adjusted = settings.fetch_adjusted

    def _adjusted(self, symbol: str, params: dict) -> list[dict]:
        if not self.fetch_adjusted:
            return []
        try:
            return records(self.client.get_json(ADJUSTED_PATH, **params))
        except FmpAuthError as exc:
            # The same key just served prices, so this is the plan, not the key: stop asking for the run.
            log.warning("dividend-adjusted prices not available (%s); adj_close stays null", scrub(exc))
            self.fetch_adjusted = False
        except FmpRequestError as exc:
            log.warning("%s: no dividend-adjusted prices (%s); adj_close stays null", symbol, scrub(exc))
        return []

    def bars(self, symbol: str, window: LoadWindow) -> pd.DataFrame | None:
        """The symbol's bars inside its window, or None when FMP sent no rows at all."""
        prices: list[dict] = []
        adjusted: list[dict] = []
        for start, end in date_chunks(window, self.settings.chunk_days):
            params = {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()}
            chunk = records(self.client.get_json(PRICE_PATH, **params))
            prices += chunk
            if chunk and not any("adjClose" in row for row in chunk):
                adjusted += self._adjusted(symbol, params)
        if not prices:
            return None
        return bars_frame(symbol, prices, adjusted_payload=adjusted, window=window, cutoff=self.cutoff)

    def actions(self, symbol: str, window: LoadWindow) -> pd.DataFrame:
        splits = self.client.get_json(SPLITS_PATH, symbol=symbol, limit=1000)
        dividends = self.client.get_json(DIVIDENDS_PATH, symbol=symbol, limit=1000)
        return actions_frame(symbol, splits, dividends, window=window, cutoff=self.cutoff)


def _fetch_constituents(client: FmpClient) -> pd.DataFrame:
    """The S&P 500 list. Fetched before dlt starts: it is the universe, and as the first call it also checks
    the key and the network, so those failures surface as a plain IngestionError."""
    try:
        return constituents_frame(client.get_json(CONSTITUENTS_PATH))
    except FmpAuthError:
        raise
    except FmpUnreachable as exc:
        raise IngestionError(f"{exc}: check the network or proxy (or load with --source yfinance)") from None
    except FmpRequestError as exc:
        raise IngestionError(
            f"cannot fetch the S&P 500 list from FMP ({exc}): retry later, or pass --symbols"
        ) from None


def _fetch_optional(client: FmpClient, path: str, what: str, report: FetchReport, **params) -> list[dict] | None:
    """The rows of an index-level table beside the bars, or None when FMP does not give them: the plan does
    not cover the endpoint, it fails after retries, or it answers with no rows. The run goes on, the stored
    rows are kept (never replaced by nothing), and the summary says so in one line."""
    try:
        rows = records(client.get_json(path, **params))
    except FmpAuthError as exc:
        if not client.key_accepted:
            raise  # the key itself is refused: fatal, as for every other call
        problem = str(exc)
    except FmpRequestError as exc:
        problem = str(exc)
    else:
        if rows:
            return rows
        problem = f"FMP sent no rows from {path}"
    note = f"{what} not loaded from FMP ({scrub(problem)}); the stored rows are kept"
    log.warning("%s", note)
    report.note(note)
    return None


def _whole_table(table: RawTable, checked: Checked):
    @dlt.resource(name=table.name, write_disposition="replace", columns=table.dlt_columns())
    def rows() -> Iterator[pa.Table]:
        yield contract_table(table, [checked.accepted])

    return rows


@dlt.source(name="fmp")
def fmp_source(
    symbols: list[str] | None,
    windows_fn: WindowsFn,
    report: FetchReport,
    api_key: str | None = None,
    base_url: str | None = None,
    include_constituents: bool = True,
    *,
    settings: FmpSettings | None = None,
    clock: Clock | None = None,
):
    """Bars, corporate actions, (with `include_constituents`) the constituent list, the S&P 500 membership
    changes and the ticker changes, and the rows refused at the door, from FMP.

    symbols=None loads the S&P 500 list plus the benchmark and sector ETFs (common.MARKET_SYMBOLS).
    `windows_fn` gives each symbol's date window; `report` collects per-symbol outcomes. `clock` (a callable
    returning a UTC pd.Timestamp) is for tests: bars after the last completed session are never stored.
    Each symbol's raw rows inside its window are replaced by what FMP sends now."""
    if not api_key:
        raise IngestionError("no FMP API key: set RT_FMP_API_KEY (or load with --source yfinance, which needs none)")
    settings = settings or FmpSettings()
    client = FmpClient(base_url or settings.base_url, api_key, settings)
    cutoff = last_completed_session(clock() if clock else None)
    loaded_at = now_utc()
    rejected: list[pd.DataFrame] = []

    listing = None
    if symbols is None or include_constituents:
        checked = check_constituents(_fetch_constituents(client), CONSTITUENTS_REF, loaded_at)
        listing = checked.accepted
        rejected.append(checked.rejects)
        report.reject(checked.rejects)
    # The index's history, with the list: S&P 500 membership changes and ticker changes.
    history: dict[RawTable, Checked] = {}
    if include_constituents:
        events = _fetch_optional(client, HISTORICAL_CONSTITUENTS_PATH, "S&P 500 membership changes", report)
        if events is not None:
            frame = membership_events_frame(events)
            history[MEMBERSHIP_EVENTS] = check_membership_events(
                frame, EVENTS_REF, loaded_at, row_numbers=frame["_row"]
            )
        changes = _fetch_optional(client, SYMBOL_CHANGE_PATH, "ticker changes", report, limit=SYMBOL_CHANGE_LIMIT)
        if changes is not None:
            frame = symbol_changes_frame(changes)
            history[TICKER_CHANGES] = check_ticker_changes(
                frame, TICKER_CHANGES_REF, loaded_at, row_numbers=frame["_row"]
            )
        for checked in history.values():
            rejected.append(checked.rejects)
            report.reject(checked.rejects)
    if symbols is None:
        if listing is None or listing.empty:
            raise IngestionError("FMP returned an empty S&P 500 list: retry later, or pass --symbols")
        asked = dedupe([*listing["symbol"], *MARKET_SYMBOLS])
    else:
        asked = dedupe(symbols)
    universe = [s for s in asked if symbol_problem(s) is None]
    report.requested = [s if s in universe else shown(s) for s in asked]
    for bad in asked:
        if bad not in universe:
            report.fail(shown(bad), f"not a ticker ({symbol_problem(bad)[1]}): not sent to FMP")
    windows = windows_fn(universe)
    fetcher = _Fetcher(client, settings, cutoff)
    reach = _Reachability(client.base_url, len(universe))
    started: set[str] = set()
    done: set[str] = set()

    def bars() -> Iterator[pa.Table]:
        started.add("bars")
        pending: list[pd.DataFrame] = []
        for symbol in universe:
            window = windows.get(symbol)
            if window is None:
                report.ok(symbol, 0)  # nothing to fetch: up to date
                continue
            try:
                frame = fetcher.bars(symbol, window)
            except FmpUnreachable as exc:
                report.fail(symbol, str(exc))
                reach.unreachable()
                continue
            except FmpRequestError as exc:
                report.fail(symbol, str(exc))
                reach.answered()
                continue
            reach.answered()
            if frame is None:
                report.fail(
                    symbol,
                    f"no bars returned for {window.start}..{window.end}: unknown or delisted symbol, "
                    "or not covered by your FMP plan",
                )
                continue
            checked = check_bars(frame, BAR_REF, loaded_at)
            rejected.append(checked.rejects)
            report.reject(checked.rejects)
            newest = max(checked.accepted["d"]) if not checked.accepted.empty else None
            report.ok(symbol, len(checked.accepted), newest)
            if not checked.accepted.empty:
                pending.append(checked.accepted)
            if len(pending) >= TABLE_BATCH:
                yield bar_table(pending)
                pending = []
        # Always one (possibly empty) table: the load must replace the windows even when nothing came.
        yield bar_table(pending)
        done.add("bars")

    def corporate_actions() -> Iterator[pa.Table]:
        started.add("corporate_actions")
        pending: list[pd.DataFrame] = []
        for symbol in universe:
            window = windows.get(symbol)
            if window is None:
                continue
            try:
                frame = fetcher.actions(symbol, window)
            except FmpUnreachable as exc:
                report.fail(symbol, f"corporate actions: {exc}")
                reach.unreachable()
                continue
            except FmpRequestError as exc:
                report.fail(symbol, f"corporate actions: {exc}")
                continue
            reach.answered()
            checked = check_actions(frame, ACTION_REF, loaded_at)
            rejected.append(checked.rejects)
            report.reject(checked.rejects)
            if not checked.accepted.empty:
                pending.append(checked.accepted)
            if len(pending) >= TABLE_BATCH:
                yield action_table(pending)
                pending = []
        yield action_table(pending)
        done.add("corporate_actions")

    scope = window_scope(windows)
    resources = [
        replaces(dlt.resource(bars, name="bars"), BARS, scope),
        replaces(dlt.resource(corporate_actions, name="corporate_actions"), CORPORATE_ACTIONS, scope),
    ]
    reject_scope = f"(kind in ('bars', 'corporate_actions') and {in_scope('symbol_text', universe)})"
    if include_constituents and listing is not None and not listing.empty:
        # Never replace the stored list with an empty one.

        @dlt.resource(name="constituents", write_disposition="replace", columns=CONSTITUENTS.dlt_columns())
        def constituents() -> Iterator[pa.Table]:
            yield constituent_table(listing)

        resources.append(constituents)
        reject_scope += " or kind = 'constituents'"
    for table, checked in history.items():
        resources.append(_whole_table(table, checked))
        reject_scope += f" or kind = '{table.name}'"
    # Parenthesised: dlt joins the scope to its own conditions with AND.
    reject_scope = f"({reject_scope})"
    resources.append(rejects_resource(rejected, reject_scope, producers_done=lambda: started <= done))
    return resources
