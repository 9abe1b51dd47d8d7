"""What every vendor package shares: the raw column shape, Arrow conversion, the load window per symbol,
failure bookkeeping and the dlt pipeline runner.

Raw tables (one schema per source: raw_sample, raw_fmp, raw_yfinance):
- bars: symbol, d, open, high, low, close, adj_close (null when the vendor has none), volume, dup_seq,
  source_ref, loaded_at. Merge key (symbol, d, dup_seq): dup_seq is 0 for the first row a vendor sent for
  (symbol, d) and 1, 2, ... for repeats in the same batch, so duplicates are kept for quarantine instead of
  being collapsed silently by the merge.
- corporate_actions: symbol, d, action ('split' | 'dividend'), value (split: new shares per old share,
  e.g. 4.0 for 4:1; dividend: cash amount per share), source_ref, loaded_at. Merge key (symbol, d, action).
- constituents: symbol, name, sector, sub_industry, date_added, source_ref, loaded_at. Replaced whole on
  every load (it is a snapshot).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Load files are local and deleted after the run: gzip-compressing them cost 6 s of a 1.27M-bar load.
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")

import dlt  # noqa: E402
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

BAR_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("d", pa.date32(), nullable=False),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("adj_close", pa.float64()),
        ("volume", pa.float64()),
        pa.field("dup_seq", pa.int64(), nullable=False),
        ("source_ref", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)

ACTION_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("d", pa.date32()),
        ("action", pa.string()),
        ("value", pa.float64()),
        ("source_ref", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)

CONSTITUENT_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("sector", pa.string()),
        ("sub_industry", pa.string()),
        ("date_added", pa.date32()),
        ("source_ref", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)

# dlt column hints shared by all sources: exact types, and nullability that matches the data contract.
BAR_COLUMNS = {
    "symbol": {"data_type": "text", "nullable": False},
    "d": {"data_type": "date", "nullable": False},
    "dup_seq": {"data_type": "bigint", "nullable": False},
}
BAR_KEY = ["symbol", "d", "dup_seq"]
ACTION_KEY = ["symbol", "d", "action"]

# The benchmark and sector ETFs every source loads beside the universe.
MARKET_SYMBOLS = ["SPY", "XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY"]


class IngestionError(RuntimeError):
    """A failure with a one-sentence explanation of the fix (no API key, provider unreachable, ...)."""


@dataclass
class FetchReport:
    """What one run asked for, what it got and which symbols failed (after retries) with why."""

    source: str
    requested: list[str] = field(default_factory=list)
    loaded_symbols: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    rows: int = 0

    def fail(self, symbol: str, error: str) -> None:
        self.failures[symbol] = error

    def ok(self, symbol: str, rows: int) -> None:
        self.loaded_symbols.add(symbol)
        self.rows += rows

    @property
    def coverage(self) -> float:
        if not self.requested:
            return 1.0
        return len(self.loaded_symbols) / len(set(self.requested))


def env_number(environ: Mapping[str, str], name: str, default: float) -> float:
    """A numeric setting from the environment; a typo fails loudly instead of falling back silently."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise IngestionError(f"{name}={raw!r} is not a number; unset it or give a number") from exc


def now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("us")


def to_bar_table(frame: pd.DataFrame, source_ref: str, loaded_at: pd.Timestamp | None = None) -> pa.Table:
    """Normalise a vendor frame (columns symbol, d|date, open, high, low, close, [adj_close], volume) to
    BAR_SCHEMA. Values are kept as sent (missing stays null, bad stays bad) so staging can quarantine them;
    dup_seq numbers repeated (symbol, d) rows in arrival order."""
    df = frame.copy()
    if "d" not in df.columns and "date" in df.columns:
        df = df.rename(columns={"date": "d"})
    missing = {"symbol", "d", "open", "high", "low", "close", "volume"} - set(df.columns)
    if missing:
        raise IngestionError(f"{source_ref}: bar input lacks columns {sorted(missing)}")
    if "adj_close" not in df.columns:
        df["adj_close"] = float("nan")
    df["symbol"] = df["symbol"].astype("string").str.strip().str.upper()
    df["d"] = pd.to_datetime(df["d"], errors="raise").dt.date
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["dup_seq"] = df.groupby(["symbol", "d"], sort=False).cumcount().astype("int64")
    df["source_ref"] = source_ref
    df["loaded_at"] = loaded_at if loaded_at is not None else now_utc()
    df = df[[f.name for f in BAR_SCHEMA]]
    return pa.Table.from_pandas(df, schema=BAR_SCHEMA, preserve_index=False)


def to_action_table(frame: pd.DataFrame, source_ref: str, loaded_at: pd.Timestamp | None = None) -> pa.Table:
    """Normalise corporate actions (symbol, d, action, value) to ACTION_SCHEMA."""
    df = frame.copy()
    if df.empty:
        return ACTION_SCHEMA.empty_table()
    df["symbol"] = df["symbol"].astype("string").str.upper()
    df["d"] = pd.to_datetime(df["d"]).dt.date
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    df["source_ref"] = source_ref
    df["loaded_at"] = loaded_at if loaded_at is not None else now_utc()
    df = df.drop_duplicates(subset=["symbol", "d", "action"], keep="last")
    return pa.Table.from_pandas(df[[f.name for f in ACTION_SCHEMA]], schema=ACTION_SCHEMA, preserve_index=False)


def to_constituent_table(frame: pd.DataFrame, source_ref: str) -> pa.Table:
    """Normalise a constituent list (symbol, name, sector, [sub_industry], [date_added])."""
    df = frame.copy()
    for col in ("sub_industry", "date_added"):
        if col not in df.columns:
            df[col] = None
    df["symbol"] = df["symbol"].astype("string").str.strip().str.upper()
    df["date_added"] = pd.to_datetime(df["date_added"], errors="coerce").dt.date
    df["source_ref"] = source_ref
    df["loaded_at"] = now_utc()
    df = df.drop_duplicates(subset=["symbol"], keep="first")
    return pa.Table.from_pandas(
        df[[f.name for f in CONSTITUENT_SCHEMA]], schema=CONSTITUENT_SCHEMA, preserve_index=False
    )


@dataclass(frozen=True)
class LoadWindow:
    """Which dates to (re)fetch for one symbol."""

    start: dt.date
    end: dt.date


def last_completed_session(now: pd.Timestamp | None = None) -> dt.date:
    """The newest NYSE session whose close has passed (never today's still-open bar)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS")
    ts = (now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    minute = ts.floor("min")
    session = cal.minute_to_past_session(minute) if not cal.is_trading_minute(minute) else None
    if session is None:
        # During a session: the previous one is the newest completed.
        session = cal.previous_session(cal.minute_to_session(minute))
    else:
        # After the close of a session, minute_to_past_session returns that session itself.
        close = cal.session_close(session)
        if close > ts:
            session = cal.previous_session(session)
    return session.date()


def plan_windows(
    symbols: Iterable[str],
    last_loaded: dict[str, dt.date],
    *,
    end: dt.date,
    history_start: dt.date,
    reread_days: int,
    days: int | None = None,
    start: dt.date | None = None,
) -> dict[str, LoadWindow]:
    """Incremental per symbol: a symbol already loaded re-reads `reread_days` before its last bar (so vendor
    corrections merge in); a new symbol gets its full history from `history_start`. `days` or `start`
    override both for backfills and manual re-runs."""
    windows: dict[str, LoadWindow] = {}
    for symbol in symbols:
        if start is not None:
            s = start
        elif days is not None:
            s = end - dt.timedelta(days=days)
        elif symbol in last_loaded:
            s = last_loaded[symbol] - dt.timedelta(days=reread_days)
        else:
            s = history_start
        if s <= end:
            windows[symbol] = LoadWindow(start=s, end=end)
    return windows


def last_loaded_dates(credentials: str, schema: str) -> dict[str, dt.date]:
    """max(d) per symbol already in <schema>.bars (empty when the table does not exist yet)."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass(%s)", (f"{schema}.bars",))
            if cur.fetchone()[0] is None:
                return {}
            cur.execute(f"select symbol, max(d) from {schema}.bars group by symbol")  # noqa: S608
            return dict(cur.fetchall())
    finally:
        conn.close()


def ensure_raw_indexes(credentials: str, schema: str) -> None:
    """dlt creates no key or index on the merge key; add unique indexes so lookups and merges stay fast
    and the key is enforced by the database."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for table, cols in (
                ("bars", BAR_KEY),
                ("corporate_actions", ACTION_KEY),
                ("constituents", ["symbol"]),
            ):
                cur.execute("select to_regclass(%s)", (f"{schema}.{table}",))
                if cur.fetchone()[0] is None:
                    continue
                cur.execute(f"create unique index if not exists {table}_key on {schema}.{table} ({', '.join(cols)})")
    finally:
        conn.close()


def with_retries(fn, *, attempts: int = 4, base_delay: float = 1.0, retry_on: tuple = (Exception,)):
    """Call fn() with exponential backoff; re-raise the last error."""
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            return fn()
        except retry_on as exc:  # noqa: PERF203
            last = exc
            if attempt < attempts - 1:
                time.sleep(base_delay * (2**attempt))
    assert last is not None
    raise last


def run_pipeline(source, *, credentials: str, dataset_name: str, pipeline_name: str) -> dict:
    """Run one dlt source into `dataset_name` with a throwaway working folder (load packages are not
    left to accumulate). Returns the row counts per table that dlt normalised."""
    workdir = Path(tempfile.mkdtemp(prefix="rt_dlt_"))
    try:
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name=dataset_name,
            pipelines_dir=str(workdir),
            progress="log" if os.environ.get("RT_PROGRESS", "1") == "1" else None,
        )
        try:
            pipeline.run(source)
        except PipelineStepFailed as exc:
            # dlt wraps errors raised while extracting; surface our own one-sentence error unwrapped.
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, IngestionError):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause from exc
            raise
        counts = dict(pipeline.last_trace.last_normalize_info.row_counts) if pipeline.last_trace else {}
        ensure_raw_indexes(credentials, dataset_name)
        return {k: v for k, v in counts.items() if not k.startswith("_dlt")}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def chunked(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
