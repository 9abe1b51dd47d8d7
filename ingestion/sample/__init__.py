"""The file source: the bundled offline sample, or a user's own CSV/Parquet bar files, through dlt.

It loads into `raw_sample` exactly as the vendor sources load theirs: same columns, same door, per-symbol
incremental windows, and each re-loaded window replaces what raw held for it.

Every full load also replaces the S&P 500 membership tables (small, so whole): `membership_events` from the
pitindex package's bundled data, `membership_intervals` from a user's `sp500_membership*.csv` (empty without
one), and `ticker_changes` from pitindex's renames and the folder's `ticker_changes*.csv` (see
ingestion/sample/membership.py).

The files are read and checked when the source is built, before dlt starts: a file that cannot be read
stops the run with one line, and rows the door refuses go to `rejects` (the rejects of the files read
replace the ones stored before). A bar file unchanged since its last read is not read again: its record
(ingestion/sample/records.py) gives its symbols, newest dates and rows inside the load windows, as a full
read would; a file with refused rows has no record, so it is re-checked every run.

Because every row is in hand before dlt starts, a table whose rows equal what raw already holds in the
scope they would replace is left out of the load (given the raw database's credentials): a night that finds
nothing new writes nothing, and no dlt load happens. A table with any difference is written whole, as
always. (The vendor sources cannot do this: their rows arrive from the network inside dlt's extraction.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dlt
import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.common import (
    WHOLE_TABLE,
    FetchReport,
    IngestionError,
    LoadWindow,
    drop_unchanged,
    exchange_today,
    in_scope,
    now_utc,
    rejects_resource,
    replaces,
    window_scope,
)
from ingestion.contract import (
    BARS,
    CONSTITUENTS,
    CORPORATE_ACTIONS,
    MEMBERSHIP_EVENTS,
    MEMBERSHIP_INTERVALS,
    REJECTS,
    TICKER_CHANGES,
    RawTable,
)
from ingestion.door import (
    BarKeys,
    Checked,
    DoorError,
    Seen,
    action_table,
    bar_table,
    bar_values,
    check_actions,
    check_bar_keys,
    check_constituents,
    check_membership_events,
    check_membership_intervals,
    check_ticker_changes,
    constituent_table,
    contract_table,
    reject_table,
)
from ingestion.sample import records
from ingestion.sample.helpers import (
    action_files,
    bar_files,
    constituent_files,
    membership_files,
    read_table,
    row_numbers,
    ticker_change_files,
)
from ingestion.sample.membership import PITINDEX, Pitindex, read_pitindex
from ingestion.symbols import normalize, shown, symbol_problem

# (symbols, anchor) -> windows; `anchor` is the newest date in the files, where `--days N` counts back from.
WindowsFn = Callable[[list[str], dt.date | None], dict[str, LoadWindow]]


def _in_windows(keys: pd.DataFrame, windows: dict[str, LoadWindow]) -> np.ndarray:
    """Rows inside their symbol's window; symbols without a window are not asked for. Symbols and days are
    factorized first, so a million rows cost two hash passes and integer compares, not a dict lookup and a
    date compare per row."""
    if keys.empty or not windows:
        return np.zeros(len(keys), dtype=bool)
    symbol_codes, symbols = pd.factorize(keys["symbol"])
    day_codes, days = pd.factorize(keys["d"])
    # a symbol without a window starts after every day and ends before every day
    latest, earliest = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    starts = np.array([windows[s].start.toordinal() if s in windows else latest for s in symbols], dtype=np.int64)
    ends = np.array([windows[s].end.toordinal() if s in windows else earliest for s in symbols], dtype=np.int64)
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    known = (symbol_codes >= 0) & (day_codes >= 0)
    inside = np.zeros(len(keys), dtype=bool)
    day = ordinals[day_codes[known]]
    inside[known] = (day >= starts[symbol_codes[known]]) & (day <= ends[symbol_codes[known]])
    return inside


def _checked(path: Path, check, loaded_at: pd.Timestamp, report: FetchReport, rejected: list[pd.DataFrame], **options):
    frame = read_table(path)
    try:
        checked = check(frame, f"file:{path.name}", loaded_at, row_numbers=row_numbers(path, frame), **options)
    except DoorError as exc:
        raise IngestionError(f"{path.name}: {exc}") from None
    rejected.append(checked.rejects)
    report.reject(checked.rejects)
    return checked


@dataclass
class Membership:
    """The membership tables of one load, checked; `refs` are the source_refs whose rejects they replace."""

    events: list[pd.DataFrame]
    intervals: list[pd.DataFrame]
    changes: list[pd.DataFrame]
    refs: list[str]


def read_membership(
    folder: Path,
    loaded_at: pd.Timestamp,
    report: FetchReport,
    rejected: list[pd.DataFrame],
    pitindex: Pitindex | None = None,
) -> Membership:
    """pitindex's events and renames, the folder's sp500_membership*.csv and ticker_changes*.csv, through the
    door. A key given twice keeps the first row (pitindex before the files, files in name order)."""
    pit = pitindex or read_pitindex()
    pit_ref = f"{PITINDEX}:{pit.version}"

    def from_pitindex(check, part, seen: Seen) -> Checked:
        # A refused row says which of pitindex's files it is in; a stored row says which data set.
        checked = check(part.frame, f"{pit_ref}:{part.file}", loaded_at, row_numbers=part.row_numbers, seen=seen)
        checked.accepted["source_ref"] = pit_ref
        rejected.append(checked.rejects)
        report.reject(checked.rejects)
        return checked

    event_keys: Seen = {}
    events = [from_pitindex(check_membership_events, part, event_keys).accepted for part in pit.events]
    interval_keys: Seen = {}
    interval_paths = membership_files(folder)
    intervals = [
        _checked(p, check_membership_intervals, loaded_at, report, rejected, seen=interval_keys).accepted
        for p in interval_paths
    ]
    change_keys: Seen = {}
    change_paths = ticker_change_files(folder)
    changes = [from_pitindex(check_ticker_changes, pit.renames, change_keys).accepted]
    changes += [
        _checked(p, check_ticker_changes, loaded_at, report, rejected, seen=change_keys).accepted for p in change_paths
    ]
    refs = [f"file:{p.name}" for p in [*interval_paths, *change_paths]]
    return Membership(events, intervals, changes, refs)


def _replaced_whole(table: RawTable, rows: pa.Table):
    """A resource that replaces `table` with these rows (no rows empty it: a removed user file must not
    keep steering membership)."""

    def replacement():
        yield rows

    return dlt.resource(replacement, name=table.name, write_disposition="replace", columns=table.dlt_columns())


@dlt.source(name="sample")
def sample_source(
    folder: Path,
    windows_fn: WindowsFn,
    report: FetchReport,
    symbols: list[str] | None = None,
    include_bars: bool = True,
    pitindex: Pitindex | None = None,
    raw_credentials: str | None = None,
    dataset_name: str = "raw_sample",
):
    """Bars, corporate actions, the constituent list, the index membership tables and the refused rows from
    the files in `folder` (and the pitindex package). `include_bars=False` reads only the constituent list
    (scripts/seed_sp500.py). `pitindex` stands in for the package's data in tests. With `raw_credentials`,
    the tables whose rows `dataset_name` already holds are left out (named in report.unchanged); the
    source may then have no resources at all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IngestionError(f"sample folder {folder} does not exist; set RT_SAMPLE_DIR to your bar files")
    files = bar_files(folder) if include_bars else []
    if include_bars and not files:
        raise IngestionError(f"no bar files (*.csv, *.csv.gz, *.parquet) in {folder}")
    loaded_at = now_utc()
    today = exchange_today()
    rejected: list[pd.DataFrame] = []
    wanted_set = None
    not_tickers = [s for s in symbols or [] if symbol_problem(s) is not None]
    if symbols is not None:
        wanted_set = {normalize(s) for s in symbols if symbol_problem(s) is None}
        for bad in not_tickers:
            report.fail(shown(bad), f"not a ticker ({symbol_problem(bad)[1]})")

    # Bar files whose record stands in for them are not read (ingestion/sample/records.py); the others are
    # read and checked now, and a recorded file whose record cannot give the windows' rows is read below.
    use_records = include_bars and raw_credentials is not None
    stored = records.load_records(raw_credentials, dataset_name) if use_records else {}
    hashes = {p.name: records.content_hash(p) for p in files} if use_records else {}
    reader = records.reader_version() if use_records else ""
    recorded = {
        p.name: stored[p.name]
        for p in files
        if p.name in stored and (stored[p.name].sha256, stored[p.name].reader) == (hashes[p.name], reader)
    }
    checked_files: dict[str, BarKeys | None] = {}
    offered: set[str] = set()
    newest: dict[str, dt.date] = {}  # newest date per symbol not after today, over every file
    made: list[records.FileRecord] = []

    def read_bars(path: Path) -> BarKeys:
        checked = _checked(path, check_bar_keys, loaded_at, report, rejected)
        checked_files[path.name] = checked
        if use_records:
            record = records.make_record(path.name, hashes[path.name], checked, loaded_at)
            if record is not None:
                made.append(record)
        return checked

    for path in files:
        if path.name in recorded and max(recorded[path.name].symbols["last"], default=today) <= today:
            last_dates = recorded[path.name].last_dates()
            offered |= set(last_dates)
        else:
            recorded.pop(path.name, None)
            checked = read_bars(path)
            offered |= checked.refused_symbols
            good = checked.good_keys
            offered |= set(good["symbol"])
            real = good[good["d"] <= today]  # a future-dated row is not what the files offer today
            last_dates = real.groupby("symbol")["d"].max().to_dict()
        for symbol, d in last_dates.items():
            if symbol not in newest or d > newest[symbol]:
                newest[symbol] = d
    wanted = sorted(offered if wanted_set is None else offered & wanted_set)
    report.requested = sorted(offered if wanted_set is None else wanted_set) if include_bars else []
    for symbol in report.requested:
        if symbol not in offered:
            report.fail(symbol, "no rows for it in the bar files")
    report.requested += [shown(s) for s in not_tickers]
    report.available = newest
    anchor = max(newest.values()) if newest else None
    windows = windows_fn(wanted, anchor) if include_bars else {}
    parts = []
    for path in files:
        ref = f"file:{path.name}"
        record = recorded.get(path.name)
        if record is not None and record.stands_in(windows, today):
            report.files_skipped += 1
            parts.append(record.rows(ref, loaded_at, keep=_in_windows(record.tail[["symbol", "d"]], windows)))
            continue
        checked = checked_files.get(path.name) or read_bars(path)
        parts.append(bar_values(checked, ref, loaded_at, keep=_in_windows(checked.keys, windows)))
        checked_files[path.name] = None  # the file's frame is not needed any more: free it before the next
        del checked
    if use_records:
        # Stored once the load has succeeded (a failed run leaves the records as they were).
        read, present = set(checked_files), {p.name for p in files}
        report.after_load.append(
            lambda: records.save_records(raw_credentials, dataset_name, stored, made, read=read, present=present)
        )
    chosen = pd.concat([p[["symbol", "d"]] for p in parts] or [pd.DataFrame(columns=["symbol", "d"])])
    counts = chosen.groupby("symbol").size()
    recent = chosen[chosen["d"] <= today].groupby("symbol")["d"].max()
    for symbol, n in counts.items():
        report.ok(str(symbol), int(n), recent.get(symbol))
    for symbol in wanted:
        if symbol not in report.loaded_symbols:
            report.ok(symbol, 0)  # nothing inside its window: judged against its last clean bar afterwards
    del chosen
    bar_rows = bar_table(parts)
    del parts

    actions = []
    read_actions = action_files(folder) if include_bars else []
    for path in read_actions:
        checked = _checked(path, check_actions, loaded_at, report, rejected)
        frame = checked.accepted
        actions.append(frame if wanted_set is None else frame[frame["symbol"].isin(wanted_set)])
    action_rows = action_table(actions)

    listing = None
    constituent_paths = constituent_files(folder)
    if constituent_paths:
        # The newest snapshot wins when several are bundled (names sort by date).
        listing = _checked(constituent_paths[-1], check_constituents, loaded_at, report, rejected).accepted

    membership = read_membership(folder, loaded_at, report, rejected, pitindex) if include_bars else None

    bar_holder = [bar_rows]

    def bars():
        # handed over, not kept: once dlt has written the table to its extract file it can be freed
        yield bar_holder.pop()

    def corporate_actions():
        yield action_rows

    action_refs = [f"file:{p.name}" for p in read_actions]
    action_scope = in_scope("source_ref", action_refs)
    if wanted_set is not None:
        action_scope = f"({action_scope}) and {in_scope('symbol', wanted_set)}"
    every_file = [f"file:{p.name}" for p in [*files, *read_actions, *constituent_paths]]
    bar_scope = window_scope(windows)
    # (resource, the table it writes, its rows, the raw rows they replace), in the order dlt extracts them
    candidates = [
        (replaces(dlt.resource(bars, name="bars"), BARS, bar_scope), BARS, bar_rows, bar_scope),
        (
            replaces(dlt.resource(corporate_actions, name="corporate_actions"), CORPORATE_ACTIONS, action_scope),
            CORPORATE_ACTIONS,
            action_rows,
            action_scope,
        ),
    ]
    if listing is not None:
        constituent_rows = constituent_table(listing)

        @dlt.resource(name="constituents", write_disposition="replace", columns=CONSTITUENTS.dlt_columns())
        def constituents():
            yield constituent_rows

        candidates.append((constituents, CONSTITUENTS, constituent_rows, WHOLE_TABLE))
    reject_scope = in_scope("source_ref", every_file)
    if membership is not None:
        for table, frames in (
            (MEMBERSHIP_EVENTS, membership.events),
            (MEMBERSHIP_INTERVALS, membership.intervals),
            (TICKER_CHANGES, membership.changes),
        ):
            rows = contract_table(table, frames)
            candidates.append((_replaced_whole(table, rows), table, rows, WHOLE_TABLE))
        # Whatever pitindex version is installed now, its rejects replace those of any earlier version.
        # (Parenthesised: dlt joins the scope to its own conditions with AND.)
        reject_scope = f"({in_scope('source_ref', every_file + membership.refs)} or source_ref like '{PITINDEX}:%')"
    # Every file has been read: `rejected` is complete, and the rejects resource writes these same rows.
    candidates.append((rejects_resource(rejected, reject_scope), REJECTS, reject_table(rejected), reject_scope))
    if raw_credentials is None:
        return [resource for resource, *_ in candidates]
    return drop_unchanged(candidates, raw_credentials, dataset_name, report)
