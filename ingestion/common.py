"""What every vendor package shares: the load window per symbol, failure bookkeeping, the SQL scope a load
replaces, and the dlt pipeline runner.

The raw tables' columns are declared once in ingestion.contract; rows are checked at the door
(ingestion.door) before anything is written.

A load replaces what its windows held: for every symbol it (re)loads, the raw rows inside that symbol's
window are deleted and the new ones inserted in one transaction (dlt's delete-insert merge with a
`destination_scope`), so a row that is no longer sent (a corrected duplicate, a removed bad row) does not
linger in raw.

This package is a leaf: it imports nothing from rapidtrader and reads no RT_* variable. Settings arrive as
arguments (FmpSettings, YahooSettings, IngestConfig).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.contract import (
    BARS,
    CONSTITUENTS,
    CORPORATE_ACTIONS,
    MEMBERSHIP_EVENTS,
    MEMBERSHIP_INTERVALS,
    REJECTS,
    TICKER_CHANGES,
    Column,
    RawTable,
)
from ingestion.door import (
    DoorError,
    action_table,
    bar_table,
    check_actions,
    check_bars,
    check_constituents,
    constituent_table,
    describe,
)
from ingestion.scrub import scrub
from ingestion.symbols import SQL_TICKER_REGEX

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Load files are local and deleted after the run: gzip-compressing them cost 6 s of a 1.27M-bar load.
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
# The staging dataset (raw_<source>_staging) only carries a load's rows into the merge: emptied after each
# load instead of keeping a second copy of the last load (92 MB after the sample's first load).
os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")
# Resources are extracted one after the other, in the order a source lists them: the `rejects` resource
# comes last and writes what the resources before it refused.
os.environ["EXTRACT__NEXT_ITEM_MODE"] = "fifo"

import dlt  # noqa: E402
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Violation|Failed)\b.*")


class OneLineLog(logging.Filter):
    """dlt logs a failed load job with its whole traceback (90-500 lines on the console). Ingestion reports
    every failure itself, in one line; dlt's own record is cut to one line too (its first line and the
    exception it ends with), with secrets scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().strip()
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        if len(lines) > 1:
            head = lines[0].replace("Traceback (most recent call last):", "").strip()
            tail = next((x for x in reversed(lines) if _EXCEPTION_LINE.match(x)), lines[-1])
            text = f"{head} {tail}" if tail != head else head
        record.msg = scrub(text)[:500]
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_DLT_LOG = logging.getLogger("dlt")
if not any(isinstance(f, OneLineLog) for f in _DLT_LOG.filters):
    _DLT_LOG.addFilter(OneLineLog())

# Kept for callers that name the Arrow schemas and keys directly; they come from the contract.
BAR_SCHEMA = BARS.arrow_schema()
ACTION_SCHEMA = CORPORATE_ACTIONS.arrow_schema()
CONSTITUENT_SCHEMA = CONSTITUENTS.arrow_schema()
REJECT_SCHEMA = REJECTS.arrow_schema()
BAR_COLUMNS = BARS.dlt_columns()
BAR_KEY = list(BARS.key)
ACTION_KEY = list(CORPORATE_ACTIONS.key)

# The benchmark and sector ETFs every source loads beside the universe.
MARKET_SYMBOLS = ["SPY", "XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY"]

WORKDIR_PREFIX = "rt_dlt_"
# A working folder from before folders were named by their process is stale after this long.
LEGACY_WORKDIR_AGE_S = 24 * 3600


class IngestionError(RuntimeError):
    """A failure with a one-sentence explanation of the fix (no API key, provider unreachable, ...)."""


@dataclass
class FetchReport:
    """What one run asked for, what it got, which symbols failed (after retries) with why, and how many
    rows the door rejected."""

    source: str
    requested: list[str] = field(default_factory=list)
    loaded_symbols: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    # newest bar date received per symbol in this run
    newest: dict[str, dt.date] = field(default_factory=dict)
    # newest date the source offers per symbol, when the source knows it (the file source)
    available: dict[str, dt.date] = field(default_factory=dict)
    rejected: Counter = field(default_factory=Counter)  # (kind, reason) -> rows
    reject_examples: list[str] = field(default_factory=list)
    # what the run could not load besides per-symbol data (a table a vendor did not give), one line each
    notes: list[str] = field(default_factory=list)
    # tables this run re-read and found equal to what raw holds in their scope, so left unwritten
    unchanged: list[str] = field(default_factory=list)
    # bar files of the file source whose stored record stood in for them: not read (ingestion/sample/records.py)
    files_skipped: int = 0
    # what the source does once its rows are in raw (the file source stores its file records then)
    after_load: list[Callable[[], None]] = field(default_factory=list)

    def fail(self, symbol: str, error: str) -> None:
        self.failures[symbol] = error

    def ok(self, symbol: str, rows: int, newest: dt.date | None = None) -> None:
        self.loaded_symbols.add(symbol)
        self.rows += rows
        if newest is not None and (symbol not in self.newest or newest > self.newest[symbol]):
            self.newest[symbol] = newest

    def note(self, line: str) -> None:
        self.notes.append(line)

    def reject(self, rejects: pd.DataFrame) -> None:
        """Count rows the door refused; keep the first few descriptions for the run's summary."""
        if rejects.empty:
            return
        self.rejected.update(zip(rejects["kind"], rejects["reason"], strict=True))
        for _, row in rejects.head(3 - len(self.reject_examples)).iterrows():
            self.reject_examples.append(describe(row))

    @property
    def coverage(self) -> float:
        if not self.requested:
            return 1.0
        return len(self.loaded_symbols & set(self.requested)) / len(set(self.requested))

    def reject_line(self, dataset: str) -> str | None:
        """The run's door rejects in one line, or None when there were none."""
        total = sum(self.rejected.values())
        if not total:
            return None
        by_reason = Counter()
        for (_, reason), n in self.rejected.items():
            by_reason[reason] += n
        reasons = ", ".join(f"{reason} {n}" for reason, n in by_reason.most_common())
        first = self.reject_examples[0] if self.reject_examples else ""
        more = f"; first: {first}" if first else ""
        return f"rejected {total} row(s) at the door ({reasons}), kept in {dataset}.rejects{more}"


def now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("us")


def _without_rejects(checked, what: str, source_ref: str):
    if not checked.rejects.empty:
        first = describe(checked.rejects.iloc[0])
        raise IngestionError(f"{source_ref}: {len(checked.rejects)} {what} row(s) refused at the door; first: {first}")
    return checked.accepted


def to_bar_table(frame: pd.DataFrame, source_ref: str, loaded_at: pd.Timestamp | None = None) -> pa.Table:
    """Bars (symbol, d|date, open, high, low, close, [adj_close], volume) -> the `bars` Arrow table; values
    kept as sent (missing stays null, bad stays bad) so staging can quarantine them; dup_seq numbers repeated
    (symbol, d) rows in arrival order. A row the door refuses raises (sources use ingestion.door directly
    and keep such rows in `rejects`)."""
    try:
        checked = check_bars(frame, source_ref, loaded_at if loaded_at is not None else now_utc())
    except DoorError as exc:
        raise IngestionError(f"{source_ref}: bar input lacks columns: {exc}") from None
    return bar_table([_without_rejects(checked, "bar", source_ref)])


def to_action_table(frame: pd.DataFrame, source_ref: str, loaded_at: pd.Timestamp | None = None) -> pa.Table:
    """Corporate actions (symbol, d, action, value) -> the `corporate_actions` Arrow table."""
    if frame.empty:
        return ACTION_SCHEMA.empty_table()
    checked = check_actions(frame, source_ref, loaded_at if loaded_at is not None else now_utc())
    return action_table([_without_rejects(checked, "corporate action", source_ref)])


def to_constituent_table(frame: pd.DataFrame, source_ref: str) -> pa.Table:
    """A constituent list (symbol, name, sector, [sub_industry], [date_added]) -> `constituents`."""
    checked = check_constituents(frame, source_ref, now_utc())
    return constituent_table(_without_rejects(checked, "constituent", source_ref))


# ---------------------------------------------------------------------------------------------------------
# Load windows
# ---------------------------------------------------------------------------------------------------------


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


def exchange_today() -> dt.date:
    """Today's date in New York: a bar dated later cannot be a real one yet."""
    return pd.Timestamp.now(tz="America/New_York").date()


def plan_windows(
    symbols: Iterable[str],
    last_loaded: Mapping[str, dt.date],
    *,
    end: dt.date,
    history_start: dt.date,
    reread_days: int,
    days: int | None = None,
    start: dt.date | None = None,
    anchor: dt.date | None = None,
) -> dict[str, LoadWindow]:
    """Incremental per symbol: a symbol already loaded re-reads `reread_days` before its last (clean) bar,
    so vendor corrections merge in; a new symbol gets its full history from `history_start`. `days` or
    `start` override both for backfills and manual re-runs; `days` counts back from `anchor` (default `end`;
    the file source anchors at the newest date in its files, since its end is open)."""
    windows: dict[str, LoadWindow] = {}
    for symbol in symbols:
        if start is not None:
            s = start
        elif days is not None:
            s = (anchor or end) - dt.timedelta(days=days)
        elif symbol in last_loaded:
            s = last_loaded[symbol] - dt.timedelta(days=reread_days)
        else:
            s = history_start
        if s <= end:
            windows[symbol] = LoadWindow(start=s, end=end)
    return windows


def newest_days(
    cur, schema: str, until: dt.date, row_filter: str = "", params: dict | None = None
) -> dict[str, dt.date]:
    """The newest d per symbol in <schema>.bars among rows dated at or before `until` that pass
    `row_filter` (SQL on the raw row `r`, with named `params`). Index probes, not a scan of the history: the
    symbols are walked through the raw key index (symbol, d, dup_seq), and each symbol's rows are read
    newest first until one qualifies (1.27M rows: 2.6 s as an aggregate, 0.01 s this way)."""
    cur.execute(
        f"""
        with recursive symbols as (
            (select r.symbol from {schema}.bars as r order by r.symbol limit 1)
            union all
            select (select r.symbol from {schema}.bars as r where r.symbol > s.symbol order by r.symbol limit 1)
            from symbols as s
            where s.symbol is not null
        )
        select s.symbol, newest.d
        from symbols as s
        cross join lateral (
            select r.d from {schema}.bars as r
            where r.symbol = s.symbol and r.d <= %(until)s {row_filter}
            order by r.d desc, r.dup_seq desc
            limit 1
        ) as newest
        """,  # noqa: S608
        {**(params or {}), "until": until},
    )
    return dict(cur.fetchall())


def last_loaded_dates(credentials: str, schema: str, until: dt.date | None = None) -> dict[str, dt.date]:
    """max(d) per symbol already in <schema>.bars, ignoring rows dated after `until` (a future-dated row is
    quarantined, it must not move the load window past real data). Empty when the table does not exist.
    rapidtrader passes the last *clean* date per symbol instead when the marts exist."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass(%s)", (f"{schema}.bars",))
            if cur.fetchone()[0] is None:
                return {}
            return newest_days(cur, schema, until or dt.date.max)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------------
# What a load replaces (dlt delete-insert with a destination scope)
# ---------------------------------------------------------------------------------------------------------


def sql_text(value: str) -> str:
    """A SQL string literal that is also safe inside dlt's `destination_scope` (which is str.format()ed)."""
    return "'" + value.replace("'", "''").replace("{", "{{").replace("}", "}}") + "'"


def window_scope(windows: Mapping[str, LoadWindow]) -> str:
    """SQL condition selecting the raw rows that `windows` re-load: each symbol's rows inside its window."""
    groups: dict[LoadWindow, list[str]] = {}
    for symbol, window in windows.items():
        groups.setdefault(window, []).append(symbol)
    parts = [
        f"(symbol in ({', '.join(sql_text(s) for s in sorted(syms))})"
        f" and d between '{w.start.isoformat()}' and '{w.end.isoformat()}')"
        for w, syms in sorted(groups.items(), key=lambda item: (item[0].start, item[0].end))
    ]
    return " or ".join(parts) if parts else "1 = 0"


def in_scope(column: str, values: Iterable[str]) -> str:
    items = sorted(set(values))
    return f"{column} in ({', '.join(sql_text(v) for v in items)})" if items else "1 = 0"


def replaces(resource, table: RawTable, scope: str):
    """Make `resource` write `table` by replacing the rows in `scope` (one transaction), with the contract's
    columns and key. Every load sets its own scope: a scope is never inherited from an earlier run."""
    resource.apply_hints(
        write_disposition={"disposition": "merge", "strategy": "delete-insert", "destination_scope": scope},
        primary_key=list(table.key),
        columns=table.dlt_columns(),
    )
    return resource


def rejects_resource(collected: list[pd.DataFrame], scope: str, producers_done: Callable[[], bool] | None = None):
    """The `rejects` table of a source: what the door refused in this run, replacing the rejects held in
    `scope`. It is listed last in a source, after the resources that collect into `collected`."""
    from ingestion.door import reject_table

    @dlt.resource(name="rejects")
    def rejects() -> Iterator[pa.Table]:
        if producers_done is not None and not producers_done():
            raise IngestionError("internal: rejects were written before every resource had been read")
        yield reject_table(collected)

    return replaces(rejects, REJECTS, scope)


# ---------------------------------------------------------------------------------------------------------
# Rows raw already holds (a re-read that finds nothing new writes nothing)
# ---------------------------------------------------------------------------------------------------------

# The scope of a table replaced whole.
WHOLE_TABLE = "1 = 1"
# Columns a load stamps itself: two loads of the same rows differ only there. (dlt's own `_dlt_*` columns
# are not in the contract, so they are never compared either.)
LOAD_STAMPS = ("loaded_at",)


class _NotComparable(Exception):
    """A value that cannot be proven equal to anything (NaN): the rows count as different."""


def _comparable(kind: str, value: object, nan_is_null: bool) -> object:
    """`value` of a contract column of `kind` in one canonical form, whatever produced it (Postgres through
    psycopg2, Arrow, pandas, numpy): a double as its exact bits (so -0.0 differs from 0.0), a bigint as int,
    a date as datetime.date, a timestamp as microseconds since the epoch in UTC, text as str. pandas' NaN is
    its missing value (from_pandas stores it as null); anywhere else a NaN is not comparable."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        if nan_is_null:
            return None
        raise _NotComparable
    if kind == "double":
        number = float(value)  # Decimal, int, numpy scalars
        if np.isnan(number):
            raise _NotComparable
        return number.hex()
    if kind == "bigint":
        if isinstance(value, bool | np.bool_):
            return ("bool", bool(value))
        number = float(value) if isinstance(value, float | np.floating | Decimal) else None
        if number is not None and not number.is_integer():
            return ("fraction", number.hex())  # equal to no integer a bigint column holds
        return int(value)
    if kind == "date":
        if isinstance(value, np.datetime64):
            value = pd.Timestamp(value)
        if isinstance(value, str):
            return dt.date.fromisoformat(value)
        if isinstance(value, dt.datetime):  # also pd.Timestamp
            return value.date() if value.time() == dt.time(0) and value.tzinfo is None else ("datetime", value)
        return value
    if kind == "timestamp":
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.value // 1000
    return str(value)


def _rows_of(rows: pa.Table | pd.DataFrame, columns: list[Column]) -> Counter:
    """The rows as a multiset of canonical tuples of `columns`."""
    names = [c.name for c in columns]
    if isinstance(rows, pd.DataFrame):
        values = [rows[n].tolist() for n in names]
        nan_is_null = True
    else:
        values = [rows.column(n).to_pylist() for n in names]
        nan_is_null = False
    kinds = [c.kind for c in columns]
    return Counter(
        tuple(_comparable(kind, v, nan_is_null) for kind, v in zip(kinds, row, strict=True))
        for row in zip(*values, strict=True)
    )


def holds_already(
    db, schema: str, table: RawTable, rows: pa.Table | pd.DataFrame, scope_sql: str = WHOLE_TABLE
) -> bool:
    """Whether <schema>.<table> holds exactly `rows` in `scope_sql` (the rows a load of `rows` would
    replace: a `destination_scope`, or WHOLE_TABLE): the same multiset of rows (order aside, repeats
    counted) in every contract column but the load stamps (LOAD_STAMPS). A table that does not exist, or
    lacks a contract column, does not hold them (the load has to create it, even for no rows); a NaN
    anywhere counts as a difference. `db` is credentials or an open psycopg2 cursor. Reads only the rows in
    scope: their count first, and the rows themselves only when it matches. Doubles compare exactly
    (PostgreSQL 12+ prints them in the shortest form that reads back to the same bits)."""
    if isinstance(db, str):
        import psycopg2

        conn = psycopg2.connect(db)
        try:
            with conn.cursor() as cur:
                return holds_already(cur, schema, table, rows, scope_sql)
        finally:
            conn.close()
    cur = db
    if "{staging_table}" in scope_sql:
        raise ValueError("holds_already: a scope that reads dlt's staging table cannot be compared before a load")
    relation = f"{schema}.{table.name}"
    columns = [c for c in table.columns if c.name not in LOAD_STAMPS]
    present = rows.columns if isinstance(rows, pd.DataFrame) else rows.column_names
    missing = [c.name for c in columns if c.name not in present]
    if missing:
        raise ValueError(f"holds_already: the rows for {table.name} lack the contract columns {missing}")
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table.name),
    )
    stored_columns = {r[0] for r in cur.fetchall()}
    if not stored_columns or any(c.name not in stored_columns for c in columns):
        return False
    # dlt formats a scope before running it ({table}, doubled braces in literals): so do we.
    scope = scope_sql.format(table=relation)
    cur.execute(f"select count(*) from {relation} where ({scope})")  # noqa: S608
    if cur.fetchone()[0] != len(rows):
        return False
    try:
        wanted = _rows_of(rows, columns)
        cur.execute(f"select {', '.join(c.name for c in columns)} from {relation} where ({scope})")  # noqa: S608
        kinds = [c.kind for c in columns]
        stored = Counter(
            tuple(_comparable(kind, v, nan_is_null=False) for kind, v in zip(kinds, row, strict=True))
            for row in cur.fetchall()
        )
    except _NotComparable:
        return False
    return stored == wanted


def drop_unchanged(
    candidates: list[tuple[object, RawTable, pa.Table, str]],
    credentials: str,
    schema: str,
    report: FetchReport,
) -> list:
    """The resources of `candidates` (resource, table, the rows it writes, the scope it replaces) whose rows
    differ from what <schema> holds in their scope; the others are left out (named in report.unchanged), so
    a re-read that finds nothing new writes nothing: no new loaded_at, no rewritten tuple, no dlt load.
    A resource with any difference is kept whole and replaces its whole scope, as always."""
    import psycopg2

    changed = []
    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            for resource, table, rows, scope in candidates:
                if holds_already(cur, schema, table, rows, scope):
                    report.unchanged.append(table.name)
                else:
                    changed.append(resource)
    finally:
        conn.close()
    return changed


# ---------------------------------------------------------------------------------------------------------
# Raw table housekeeping
# ---------------------------------------------------------------------------------------------------------


def _exists(cur, relation: str) -> bool:
    cur.execute("select to_regclass(%s)", (relation,))
    return cur.fetchone()[0] is not None


def _create_rejects_table(cur, schema: str) -> None:
    cols = ", ".join(
        f"{c.name} {sql}{'' if c.nullable else ' not null'}"
        for c, (_, sql) in zip(REJECTS.columns, REJECTS.sql_columns(), strict=True)
    )
    cur.execute(f"create table if not exists {schema}.rejects ({cols})")


# The comment a raw table gets once every row in it has passed the symbol check; rows stored since then
# came through the door, so later runs skip the scan (1.27M rows: 0.2 s a table, every night).
SYMBOLS_CHECKED = "rapidtrader: every stored symbol passed the door's ticker check"


def _move_bad_symbols(cur, schema: str, table: RawTable) -> int:
    """Rows stored before symbols were checked at the door (a 10,000-character symbol would make the
    unique index impossible to build, run after run) move to `rejects`, in one statement; the table is
    then marked checked (SYMBOLS_CHECKED) and never scanned again."""
    relation = f"{schema}.{table.name}"
    cur.execute("select obj_description(%s::regclass, 'pg_class')", (relation,))
    if cur.fetchone()[0] == SYMBOLS_CHECKED:
        return 0
    cur.execute(f"select count(*) from {relation} where symbol is null or symbol !~ %s", (SQL_TICKER_REGEX,))  # noqa: S608
    if cur.fetchone()[0] == 0:
        cur.execute(f"comment on table {relation} is %s", (SYMBOLS_CHECKED,))
        return 0
    _create_rejects_table(cur, schema)
    has_d = "d" in table.names
    cur.execute(
        f"""
        with moved as (
            delete from {relation} where symbol is null or symbol !~ %(regex)s returning *
        )
        insert into {schema}.rejects
            (reject_id, kind, symbol_text, date_text, d, reason, detail, row_number, row_text, source_ref, loaded_at)
        select
            md5(%(kind)s || '|' || moved::text),
            %(kind)s,
            left(moved.symbol, 32) || case when length(moved.symbol) > 32
                then '...(' || length(moved.symbol) || ' chars)' else '' end,
            {"moved.d::text" if has_d else "null"},
            {"moved.d" if has_d else "null::date"},
            case when coalesce(moved.symbol, '') = '' then 'missing_symbol' else 'invalid_symbol' end,
            'stored before symbols were checked at the door; moved out of ' || %(kind)s,
            null,
            left(moved::text, 500),
            moved.source_ref,
            now()
        from moved
        on conflict do nothing
        """,  # noqa: S608
        {"regex": SQL_TICKER_REGEX, "kind": table.name},
    )
    moved = cur.rowcount
    cur.execute(f"comment on table {relation} is %s", (SYMBOLS_CHECKED,))
    return moved


def ensure_raw_indexes(credentials: str, schema: str) -> int:
    """dlt creates no key or index on the merge key; add unique indexes so lookups and merges stay fast
    and the key is enforced by the database. Rows whose symbol could never be indexed (stored by an older
    version) are first moved to `rejects`. Returns how many rows were moved."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    conn.autocommit = True  # each step commits: an index build still sees rows deleted in its own transaction
    moved = 0
    try:
        with conn.cursor() as cur:
            for table in (BARS, CORPORATE_ACTIONS, CONSTITUENTS):
                if not _exists(cur, f"{schema}.{table.name}"):
                    continue
                moved_here = _move_bad_symbols(cur, schema, table)  # one statement: atomic on its own
                if moved_here:
                    # the moved rows stay in the heap as dead versions, and an index build still reads
                    # those that another open snapshot could see (PostgreSQL 15): clear them first
                    cur.execute(f"vacuum {schema}.{table.name}")
                moved += moved_here
            if _exists(cur, f"{schema}.rejects"):
                cur.execute(f"create unique index if not exists rejects_key on {schema}.rejects (reject_id)")
            # The membership tables are newer than the door: nothing unchecked was ever stored in them.
            for table in (
                BARS,
                CORPORATE_ACTIONS,
                CONSTITUENTS,
                MEMBERSHIP_EVENTS,
                MEMBERSHIP_INTERVALS,
                TICKER_CHANGES,
            ):
                if _exists(cur, f"{schema}.{table.name}"):
                    cur.execute(
                        f"create unique index if not exists {table.name}_key on {schema}.{table.name} "
                        f"({', '.join(table.key)})"
                    )
            # the nightly build reads only the bars loaded since its last run, and the raw rows of the
            # re-read window to see which stored rows vanished (dbt: bar_changes.sql)
            if _exists(cur, f"{schema}.{BARS.name}"):
                cur.execute(f"create index if not exists {BARS.name}_loaded_at on {schema}.{BARS.name} (loaded_at)")
                cur.execute(f"create index if not exists {BARS.name}_d on {schema}.{BARS.name} (d)")
    except psycopg2.Error as exc:
        raise IngestionError(f"cannot index {schema}: {_first_line(exc)}") from None
    finally:
        conn.close()
    return moved


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


# ---------------------------------------------------------------------------------------------------------
# dlt working folders
# ---------------------------------------------------------------------------------------------------------


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def make_workdir(base: Path | None = None) -> Path:
    """A working folder for one run, named and marked with the process that owns it."""
    root = Path(base or tempfile.gettempdir())
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}_", dir=root))
    owner = {"pid": os.getpid(), "started": _process_started(os.getpid())}
    (workdir / "owner.json").write_text(json.dumps(owner))
    return workdir


def _stale(path: Path) -> bool:
    match = re.match(rf"{WORKDIR_PREFIX}(\d+)_", path.name)
    if match is None:
        # Named before folders carried their process: only an old one is surely abandoned.
        return time.time() - path.stat().st_mtime > LEGACY_WORKDIR_AGE_S
    try:
        owner = json.loads((path / "owner.json").read_text())
    except (OSError, ValueError):
        owner = {"pid": int(match.group(1)), "started": None}
    started = _process_started(int(owner.get("pid", match.group(1))))
    if started is None:
        return True  # no such process
    # The same pid now belongs to a younger process: the owner is gone.
    return owner.get("started") is not None and abs(started - float(owner["started"])) > 1.0


def clean_stale_workdirs(base: Path | None = None) -> list[Path]:
    """Delete working folders left by runs that were killed (kill -9 skips every cleanup): only ours (our
    prefix, our user) and only when the process that made them is gone."""
    root = Path(base or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{WORKDIR_PREFIX}*"):
        try:
            if not path.is_dir() or path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
            if _stale(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            continue
    return removed


# ---------------------------------------------------------------------------------------------------------
# Running a source
# ---------------------------------------------------------------------------------------------------------


def _first_line(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return scrub(line, secrets)[:300]


def _root_cause(exc: BaseException) -> BaseException:
    seen: BaseException = exc
    while True:
        nested = getattr(seen, "exception", None) if isinstance(seen, PipelineStepFailed) else None
        nxt = nested or seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def run_pipeline(
    source,
    *,
    credentials: str,
    dataset_name: str,
    pipeline_name: str,
    progress: bool = False,
    secrets: Iterable[str | None] = (),
) -> dict:
    """Run one dlt source into `dataset_name` with a throwaway working folder (load packages are not
    left to accumulate, and folders of killed runs are cleaned first). Returns the row counts per table
    that dlt normalised. Every failure is an IngestionError of one line."""
    clean_stale_workdirs()
    workdir = make_workdir()
    try:
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name=dataset_name,
            pipelines_dir=str(workdir),
            progress="log" if progress else None,
        )
        try:
            pipeline.run(source)
        except PipelineStepFailed as exc:
            # dlt wraps errors raised while extracting; surface our own one-sentence error unwrapped.
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, IngestionError):
                nested = getattr(cause, "exception", None)
                cause = (nested if isinstance(nested, BaseException) else None) or cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause from exc
            # Anything else: one line naming the step and the cause. The run's load packages live in this
            # run's working folder, which is deleted below: nothing is retried, so say so.
            raise IngestionError(
                f"loading {dataset_name} failed at dlt's {exc.step} step: "
                f"{type(_root_cause(exc)).__name__}: {_first_line(_root_cause(exc), secrets)} "
                "(nothing of this run is retried; fix the cause and run again)"
            ) from None
        counts = dict(pipeline.last_trace.last_normalize_info.row_counts) if pipeline.last_trace else {}
        ensure_raw_indexes(credentials, dataset_name)
        return {k: v for k, v in counts.items() if not k.startswith("_dlt")}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def chunked(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
