"""The door: every row any source hands over is checked here, the same way, before anything is written.

A row is either accepted in the raw contract's shape (ingestion.contract) or rejected with a reason and
kept as text in the `rejects` table. Nothing is coerced silently and nothing is dropped:

- symbol: must be a ticker (ingestion.symbols); else `missing_symbol` / `invalid_symbol`.
- date: a date YYYY-MM-DD (or a typed date from Parquet or a vendor); a number (20240102, or the
  1970-01-01 a Parquet integer would become), dd/mm/yyyy, mm/dd/yyyy or an impossible date (2017-13-45)
  is rejected as `invalid_date` (empty: `missing_date`), never guessed.
- bar prices and volume: numbers are kept as sent, out-of-range ones included (dbt quarantines them);
  a value that is present but not a number (a word, true/false, a date) is stored as null and its field
  named in `unreadable`, so the bar is quarantined (`missing_*`, `not_a_number`) rather than read as 1 or 0.
- corporate actions: action must be split or dividend (`invalid_action`), value a positive number
  (`invalid_value`); two different values for one (symbol, d, action) reject both (`duplicate_key_conflict`).
- constituents: text with a NUL byte (`invalid_text`); a symbol listed twice keeps its first row, the
  others are rejected (`duplicate_key`).
- membership events: action must be added or removed (`invalid_action`). Membership intervals: date_removed
  may be empty, else a date after date_added (`invalid_interval`). Ticker changes: both symbols tickers, and
  not the same one (`invalid_ticker_change`). For these three a key given twice, in one input or across the
  inputs of one load, keeps its first row and rejects the others (`duplicate_key`, naming where the kept
  row came from).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
    RawTable,
)
from ingestion.symbols import normalize, shown, symbol_problem

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
NUMBER_FIELDS = (*PRICE_FIELDS, "volume")
BAR_REQUIRED = ("symbol", "d", "open", "high", "low", "close", "volume")
ACTION_REQUIRED = ("symbol", "d", "action", "value")
CONSTITUENT_REQUIRED = ("symbol", "name", "sector")
ACTIONS = ("split", "dividend")
EVENT_REQUIRED = ("symbol", "d", "action")
INTERVAL_REQUIRED = ("symbol", "date_added", "date_removed")
TICKER_CHANGE_REQUIRED = ("old_symbol", "new_symbol", "d")
MEMBERSHIP_ACTIONS = ("added", "removed")

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ROW_TEXT_LIMIT = 500
DETAIL_LIMIT = 300


class DoorError(ValueError):
    """The input as a whole cannot be read (a required column is missing)."""


@dataclass
class Checked:
    """What the door let through (a DataFrame in contract shape, without dup_seq for bars) and what it
    rejected (a DataFrame in the `rejects` contract shape)."""

    accepted: pd.DataFrame
    rejects: pd.DataFrame
    # valid symbols of rejected rows (refused for their date, say): the source offered them
    refused_symbols: set[str] = field(default_factory=set)


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in REJECTS.names})


def require_columns(frame: pd.DataFrame, required: Iterable[str], what: str) -> None:
    cols = set(frame.columns)
    if "d" in required and "d" not in cols and "date" in cols:
        cols.add("d")
    missing = [c for c in required if c not in cols]
    if missing:
        names = ", ".join(f"`{'date' if c == 'd' else c}`" for c in missing)
        found = ", ".join(str(c) for c in frame.columns) or "none"
        need = ", ".join("date" if c == "d" else c for c in required)
        raise DoorError(f"no {names} column (found: {found}); {what} need {need}")


# ---------------------------------------------------------------------------------------------------------
# Cell readers: vectorised for typed columns and plain text, per value only for mixed Python objects
# ---------------------------------------------------------------------------------------------------------


def _is_text_column(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float64 values, mask of cells that were present but not numbers). Missing stays null; booleans,
    dates and words are not numbers."""
    nothing = pd.Series(False, index=s.index)
    if pd.api.types.is_bool_dtype(s):
        return pd.Series(np.nan, index=s.index, dtype="float64"), s.notna()
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64"), nothing
    if pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.PeriodDtype | pd.IntervalDtype):
        return pd.Series(np.nan, index=s.index, dtype="float64"), s.notna()
    if _is_text_column(s):
        text = s.astype("string").str.strip()
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        missing = text.isna() | (text == "")
        return values, (~missing & values.isna()).astype(bool)
    values = np.full(len(s), np.nan)
    bad = np.zeros(len(s), dtype=bool)
    texts: dict[int, str] = {}
    for i, v in enumerate(s.tolist()):
        if _is_missing(v):
            continue
        if isinstance(v, bool | np.bool_):
            bad[i] = True
        elif isinstance(v, int | float | np.integer | np.floating | decimal.Decimal):
            values[i] = float(v)
        elif isinstance(v, str):
            texts[i] = v
        else:
            bad[i] = True
    if texts:
        idx = list(texts)
        parsed, unreadable = numbers(pd.Series([texts[i] for i in idx], dtype="string"))
        values[idx] = parsed.to_numpy()
        bad[idx] = unreadable.to_numpy()
    return pd.Series(values, index=s.index), pd.Series(bad, index=s.index)


def _date_problem_of_text(text: str) -> tuple[str, str]:
    if text.strip() == "":
        return "missing_date", "the date is empty"
    if ISO_DATE.fullmatch(text.strip()):
        return "invalid_date", f"'{shown(text)}' is not a calendar date"
    return "invalid_date", f"'{shown(text)}' is not a date YYYY-MM-DD"


def dates(s: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """(datetime.date per row, None where rejected; {position: (reason, detail)} for the rejected rows)."""
    n = len(s)
    out: list[dt.date | None] = [None] * n
    problems: dict[int, tuple[str, str]] = {}
    if pd.api.types.is_datetime64_any_dtype(s):
        stamps = pd.DatetimeIndex(s)
        if stamps.tz is not None:
            for i in range(n):
                problems[i] = ("invalid_date", "the date carries a time zone; give the exchange date YYYY-MM-DD")
            return pd.Series(out, index=s.index, dtype=object), problems
        missing = np.asarray(stamps.isna())
        timed = ~missing & np.asarray(stamps != stamps.normalize())
        for i in np.flatnonzero(missing):
            problems[int(i)] = ("missing_date", "no date")
        for i in np.flatnonzero(timed):
            problems[int(i)] = ("invalid_date", f"'{stamps[i]}' has a time of day; give the date YYYY-MM-DD")
        days = pd.Series(stamps.date, index=s.index, dtype=object)
        return days.where(~(missing | timed), None), problems
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        for i, v in enumerate(s.tolist()):
            problems[i] = (
                ("missing_date", "no date")
                if _is_missing(v)
                else ("invalid_date", f"the date is a number ({shown(v)}), not YYYY-MM-DD")
            )
        return pd.Series(out, index=s.index, dtype=object), problems
    if _is_text_column(s):
        texts = s.astype("string").str.strip()
        iso = texts.str.fullmatch(ISO_DATE.pattern).fillna(False).astype(bool)
        parsed = pd.to_datetime(texts.where(iso), format="%Y-%m-%d", errors="coerce")
        good = (iso & parsed.notna()).to_numpy()
        for i in np.flatnonzero(~good):
            v = s.iloc[i]
            problems[int(i)] = ("missing_date", "no date") if _is_missing(v) else _date_problem_of_text(v)
        days = pd.Series(parsed.dt.date, index=s.index, dtype=object)
        return days.where(good, None), problems
    values = s.tolist()
    if set(map(type, values)) <= {dt.date}:
        return pd.Series(values, index=s.index, dtype=object), problems  # typed dates (Parquet, vendors)
    text_pos = []
    for i, v in enumerate(values):
        if _is_missing(v):
            problems[i] = ("missing_date", "no date")
        elif isinstance(v, str):
            text_pos.append(i)
        elif isinstance(v, dt.datetime | pd.Timestamp):
            if v.tzinfo is not None:
                problems[i] = ("invalid_date", "the date carries a time zone; give the exchange date YYYY-MM-DD")
            elif v.time() != dt.time(0):
                problems[i] = ("invalid_date", f"'{v}' has a time of day; give the date YYYY-MM-DD")
            else:
                out[i] = v.date()
        elif isinstance(v, dt.date):
            out[i] = v
        elif isinstance(v, bool | np.bool_):
            problems[i] = ("invalid_date", f"the date is {v}, not YYYY-MM-DD")
        elif isinstance(v, int | float | np.integer | np.floating):
            problems[i] = ("invalid_date", f"the date is a number ({shown(v)}), not YYYY-MM-DD")
        else:
            problems[i] = ("invalid_date", f"the date is a {type(v).__name__}, not YYYY-MM-DD")
    if text_pos:
        sub, sub_problems = dates(pd.Series([values[i] for i in text_pos], dtype="string"))
        for j, i in enumerate(text_pos):
            if j in sub_problems:
                problems[i] = sub_problems[j]
            else:
                out[i] = sub.iloc[j]
    return pd.Series(out, index=s.index, dtype=object), problems


def symbols(s: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """(normalised symbol per row; {position: (reason, detail)} for rows whose symbol is not a ticker)."""
    from ingestion.symbols import TICKER_PATTERN

    problems: dict[int, tuple[str, str]] = {}
    if _is_text_column(s):
        # Each distinct text is checked once and every row gets the one normalised str object of its text
        # (2.5M rows of 500 symbols: 20 MB of pointers instead of 140 MB of copies of the same strings).
        codes, distinct = pd.factorize(s)
        text = pd.Series(distinct, dtype=object).astype("string").str.strip().str.upper()
        good = text.str.fullmatch(TICKER_PATTERN).fillna(False).astype(bool).to_numpy()
        known = codes >= 0
        ok = np.zeros(len(s), dtype=bool)
        ok[known] = good[codes[known]]
        for i in np.flatnonzero(~ok):
            v = s.iloc[i]
            problems[int(i)] = symbol_problem(None if _is_missing(v) else v) or ("invalid_symbol", "not a ticker")
        out = np.full(len(s), None, dtype=object)
        out[ok] = text.astype(object).to_numpy()[codes[ok]]
        return pd.Series(out, index=s.index, dtype=object), problems
    out: list[str | None] = []
    for i, v in enumerate(s.tolist()):
        problem = symbol_problem(None if _is_missing(v) else v)
        if problem:
            problems[i] = problem
            out.append(None)
        else:
            out.append(normalize(v))
    return pd.Series(out, index=s.index, dtype=object), problems


# ---------------------------------------------------------------------------------------------------------
# Rejected rows, as text
# ---------------------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return "" if _is_missing(value) else shown(value, 64)


def row_text(row: dict) -> str:
    text = ", ".join(f"{shown(k, 32)}={_cell(v)}" for k, v in row.items())
    return text if len(text) <= ROW_TEXT_LIMIT else text[: ROW_TEXT_LIMIT - 3] + "..."


def reject_frame(
    frame: pd.DataFrame,
    problems: dict[int, tuple[str, str]],
    *,
    kind: str,
    source_ref: str,
    loaded_at: pd.Timestamp,
    row_numbers: pd.Series | None,
    symbol_col: str = "symbol",
    date_col: str | None = "d",
    parsed_dates: pd.Series | None = None,
) -> pd.DataFrame:
    """One `rejects` row per problem: what was sent (as escaped, cut text), why, and where."""
    if not problems:
        return empty_rejects()
    records = []
    cols = list(frame.columns)
    for pos in sorted(problems):
        reason, detail = problems[pos]
        raw = frame.iloc[pos]
        cells = {str(c): raw[c] for c in cols if not str(c).startswith("_")}
        text = row_text(cells)
        number = None if row_numbers is None else int(row_numbers.iloc[pos])
        symbol = raw[symbol_col] if symbol_col in cols else None
        when = raw[date_col] if date_col and date_col in cols else None
        key = f"{kind}|{source_ref}|{number}|{text}|{reason}"
        records.append(
            {
                "reject_id": hashlib.md5(key.encode("utf-8", "backslashreplace")).hexdigest(),
                "kind": kind,
                "symbol_text": None if _is_missing(symbol) else shown(symbol),
                "date_text": None if _is_missing(when) else shown(when),
                "d": None if parsed_dates is None else parsed_dates.iloc[pos],
                "reason": reason,
                "detail": detail[:DETAIL_LIMIT],
                "row_number": number,
                "row_text": text,
                "source_ref": source_ref,
                "loaded_at": loaded_at,
            }
        )
    return pd.DataFrame.from_records(records, columns=REJECTS.names)


def describe(reject: dict | pd.Series) -> str:
    """One line saying where and what: `my.csv row 7: '02/01/2024' is not a date YYYY-MM-DD`."""
    where = str(reject["source_ref"]).removeprefix("file:")
    if not _is_missing(reject.get("row_number")):
        unit = "line" if where.endswith((".csv", ".csv.gz")) else "row"
        where += f" {unit} {int(reject['row_number'])}"
    elif reject.get("symbol_text"):
        where += f" {reject['symbol_text']}"
    return f"{where}: {reject['detail']} ({reject['reason']})"


# ---------------------------------------------------------------------------------------------------------
# The three kinds of rows
# ---------------------------------------------------------------------------------------------------------


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.reset_index(drop=True)
    if "d" not in df.columns and "date" in df.columns:
        df = df.rename(columns={"date": "d"})
    return df


def _merge_problems(*maps: dict[int, tuple[str, str]]) -> dict[int, tuple[str, str]]:
    """The first problem found for a row wins (symbol before date before the rest)."""
    out: dict[int, tuple[str, str]] = {}
    for problems in maps:
        for pos, problem in problems.items():
            out.setdefault(pos, problem)
    return out


@dataclass
class BarKeys:
    """The first half of the bar check: which rows have a ticker and a readable date. A source needs the
    keys of every row to plan its windows; values are then read only for the rows it keeps."""

    frame: pd.DataFrame  # as sent, `date` named `d`, positional index
    keys: pd.DataFrame  # symbol, d per row (None where refused)
    rejected: np.ndarray
    rejects: pd.DataFrame
    refused_symbols: set[str]

    @property
    def good_keys(self) -> pd.DataFrame:
        return self.keys[~self.rejected]


def check_bar_keys(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
) -> BarKeys:
    sent = frame.reset_index(drop=True)
    df = _prepare(frame)
    require_columns(df, BAR_REQUIRED, "bar files")
    sym, sym_problems = symbols(df["symbol"])
    day, day_problems = dates(df["d"])
    problems = _merge_problems(sym_problems, day_problems)
    rejected = np.zeros(len(df), dtype=bool)
    rejected[list(problems)] = True
    rejects = reject_frame(
        sent,
        problems,
        kind="bars",
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        date_col="d" if "d" in sent.columns else "date",
        parsed_dates=day,
    )
    refused = {s for s in sym[rejected].tolist() if s is not None}
    return BarKeys(df, pd.DataFrame({"symbol": sym, "d": day}, index=df.index), rejected, rejects, refused)


def bar_values(
    checked: BarKeys, source_ref: str, loaded_at: pd.Timestamp, keep: np.ndarray | None = None
) -> pd.DataFrame:
    """The accepted rows (not refused, and in `keep` when given) in the `bars` contract shape without
    dup_seq, in arrival order. A value that was sent but is not a number is stored null and its field named
    in `unreadable`."""
    mask = ~checked.rejected if keep is None else (~checked.rejected & keep)
    whole = bool(mask.all())  # a first load keeps every row: no copy of the file's columns
    df = checked.frame if whole else checked.frame[mask]
    out = checked.keys.copy() if whole else checked.keys[mask].copy()
    unreadable: dict[int, list[str]] = {}
    for col in NUMBER_FIELDS:
        if col in df.columns:
            values, bad = numbers(df[col])
            for i in np.flatnonzero(bad.to_numpy()):
                unreadable.setdefault(int(i), []).append(col)
        else:
            values = pd.Series(np.nan, index=df.index)
        out[col] = values
    out["source_ref"] = source_ref
    out["loaded_at"] = loaded_at
    out["unreadable"] = None
    for i, cols in unreadable.items():
        out.iat[i, out.columns.get_loc("unreadable")] = ",".join(cols)
    return out[[c for c in BARS.names if c != "dup_seq"]].reset_index(drop=True)


def check_bars(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
) -> Checked:
    """Bars (symbol, d|date, open, high, low, close, [adj_close], volume) -> accepted rows in the `bars`
    contract shape without dup_seq, in arrival order, and the rejected rows."""
    checked = check_bar_keys(frame, source_ref, loaded_at, row_numbers=row_numbers)
    return Checked(bar_values(checked, source_ref, loaded_at), checked.rejects, checked.refused_symbols)


def bar_table(frames: list[pd.DataFrame]) -> pa.Table:
    """Accepted bars -> the `bars` Arrow table; dup_seq numbers repeated (symbol, d) rows in arrival order."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return BARS.arrow_schema().empty_table()
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    df["dup_seq"] = df.groupby(["symbol", "d"], sort=False).cumcount().astype("int64")
    return pa.Table.from_pandas(df[BARS.names], schema=BARS.arrow_schema(), preserve_index=False)


def check_actions(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
) -> Checked:
    """Corporate actions (symbol, d|date, action, value) -> accepted rows and rejects."""
    sent = frame.reset_index(drop=True)
    df = _prepare(frame)
    if df.empty:
        return Checked(pd.DataFrame(columns=CORPORATE_ACTIONS.names), empty_rejects())
    require_columns(df, ACTION_REQUIRED, "corporate action files")
    sym, sym_problems = symbols(df["symbol"])
    day, day_problems = dates(df["d"])
    action_problems: dict[int, tuple[str, str]] = {}
    actions = []
    for i, v in enumerate(df["action"].tolist()):
        text = v.strip().lower() if isinstance(v, str) else None
        if text not in ACTIONS:
            action_problems[i] = ("invalid_action", f"action '{_cell(v)}' is not split or dividend")
        actions.append(text)
    values, unreadable = numbers(df["value"])
    value_problems = {
        i: ("invalid_value", f"value '{_cell(df['value'].iloc[i])}' is not a positive number")
        for i in range(len(df))
        if unreadable.iloc[i] or not (np.isfinite(values.iloc[i]) and values.iloc[i] > 0)
    }
    problems = _merge_problems(sym_problems, day_problems, action_problems, value_problems)
    out = pd.DataFrame({"symbol": sym, "d": day, "action": actions, "value": values}, index=df.index)
    ok = pd.Series(True, index=df.index)
    ok.iloc[list(problems)] = False
    # One row per (symbol, d, action): an identical repeat says nothing new; different values cannot
    # both be right, so neither is trusted.
    good = out[ok]
    versions = good.groupby(["symbol", "d", "action"])["value"].transform("nunique")
    for pos in np.flatnonzero(ok.to_numpy()):
        label = df.index[pos]
        if versions.get(label, 1) > 1:
            problems[int(pos)] = ("duplicate_key_conflict", "the same action on the same day with different values")
            ok.iloc[pos] = False
    out["source_ref"] = source_ref
    out["loaded_at"] = loaded_at
    rejects = reject_frame(
        sent,
        problems,
        kind="corporate_actions",
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        date_col="d" if "d" in sent.columns else "date",
        parsed_dates=day,
    )
    accepted = out[ok].drop_duplicates(subset=["symbol", "d", "action"], keep="first")
    return Checked(accepted[CORPORATE_ACTIONS.names].reset_index(drop=True), rejects)


def action_table(frames: list[pd.DataFrame]) -> pa.Table:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return CORPORATE_ACTIONS.arrow_schema().empty_table()
    df = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["symbol", "d", "action"], keep="first")
    return pa.Table.from_pandas(
        df[CORPORATE_ACTIONS.names], schema=CORPORATE_ACTIONS.arrow_schema(), preserve_index=False
    )


def check_constituents(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
) -> Checked:
    """The constituent list (symbol, name, sector, [sub_industry], [date_added]) -> accepted rows, rejects.
    date_added is informational: a value that is not a date is stored empty."""
    df = frame.reset_index(drop=True)
    require_columns(df, CONSTITUENT_REQUIRED, "constituent files")
    for col in ("sub_industry", "date_added"):
        if col not in df.columns:
            df[col] = None
    sym, problems = symbols(df["symbol"])
    problems = dict(problems)
    for col in ("name", "sector", "sub_industry"):
        for i, v in enumerate(df[col].tolist()):
            if isinstance(v, str) and "\x00" in v:
                problems.setdefault(i, ("invalid_text", f"{col} contains a NUL byte"))
    seen: set[str] = set()
    for i, s in enumerate(sym.tolist()):
        if i in problems or s is None:
            continue
        if s in seen:
            problems[i] = ("duplicate_key", f"{s} is listed more than once (the first row is kept)")
        seen.add(s)
    added, _ = dates(df["date_added"])
    out = pd.DataFrame(
        {
            "symbol": sym,
            "name": df["name"],
            "sector": df["sector"],
            "sub_industry": df["sub_industry"],
            "date_added": added,
            "source_ref": source_ref,
            "loaded_at": loaded_at,
        }
    )
    for col in ("name", "sector", "sub_industry"):
        out[col] = out[col].map(lambda v: None if _is_missing(v) else str(v))
    ok = np.ones(len(df), dtype=bool)
    ok[list(problems)] = False
    rejects = reject_frame(
        df,
        problems,
        kind="constituents",
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        date_col=None,
    )
    return Checked(out[ok].reset_index(drop=True), rejects)


def constituent_table(accepted: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(accepted[CONSTITUENTS.names], schema=CONSTITUENTS.arrow_schema(), preserve_index=False)


def reject_table(frames: list[pd.DataFrame]) -> pa.Table:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return REJECTS.arrow_schema().empty_table()
    df = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["reject_id"], keep="first")
    df["row_number"] = df["row_number"].astype("Int64")
    return pa.Table.from_pandas(df[REJECTS.names], schema=REJECTS.arrow_schema(), preserve_index=False)


# ---------------------------------------------------------------------------------------------------------
# Index membership: events, a user's intervals, ticker changes
# ---------------------------------------------------------------------------------------------------------

# The keys one load has accepted so far, across its inputs (the pitindex files, then the user's files in
# name order): key -> where the kept row came from. A later row with the same key is a `duplicate_key`.
Seen = dict[tuple, str]


def _place(source_ref: str, row_numbers: pd.Series | None, pos: int) -> str:
    where = source_ref.removeprefix("file:")
    if row_numbers is None:
        return where
    unit = "line" if where.endswith((".csv", ".csv.gz")) else "row"
    return f"{where} {unit} {int(row_numbers.iloc[pos])}"


def _first_of_each_key(
    keys: list[tuple | None],
    problems: dict[int, tuple[str, str]],
    seen: Seen,
    source_ref: str,
    row_numbers: pd.Series | None,
    label: Callable[[tuple], str],
) -> None:
    """The first row of each key is kept; a repeat (here or in an input read earlier) is rejected, naming
    where the kept row came from, so a second statement of the same fact is visible, never dropped."""
    for pos, key in enumerate(keys):
        if pos in problems or key is None:
            continue
        if key in seen:
            problems[pos] = ("duplicate_key", f"{label(key)} is already given ({seen[key]}); the first is kept")
        else:
            seen[key] = _place(source_ref, row_numbers, pos)


def _prefixed(problems: dict[int, tuple[str, str]], column: str) -> dict[int, tuple[str, str]]:
    return {pos: (reason, f"{column}: {detail}") for pos, (reason, detail) in problems.items()}


def _accepted(out: pd.DataFrame, problems: dict[int, tuple[str, str]], table: RawTable) -> pd.DataFrame:
    ok = np.ones(len(out), dtype=bool)
    ok[list(problems)] = False
    return out[ok][table.names].reset_index(drop=True)


def check_membership_events(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
    seen: Seen | None = None,
) -> Checked:
    """Index membership events (symbol, d|date, action added|removed) -> accepted rows and rejects."""
    sent = frame.reset_index(drop=True)
    df = _prepare(frame)
    if df.empty and len(df.columns) == 0:
        return Checked(pd.DataFrame(columns=MEMBERSHIP_EVENTS.names), empty_rejects())
    require_columns(df, EVENT_REQUIRED, "membership event files")
    sym, sym_problems = symbols(df["symbol"])
    day, day_problems = dates(df["d"])
    action_problems: dict[int, tuple[str, str]] = {}
    actions: list[str | None] = []
    for i, v in enumerate(df["action"].tolist()):
        text = v.strip().lower() if isinstance(v, str) else None
        if text not in MEMBERSHIP_ACTIONS:
            action_problems[i] = ("invalid_action", f"action '{_cell(v)}' is not added or removed")
        actions.append(text)
    problems = _merge_problems(sym_problems, day_problems, action_problems)
    keys = list(zip(sym.tolist(), day.tolist(), actions, strict=True))
    _first_of_each_key(
        keys,
        problems,
        {} if seen is None else seen,
        source_ref,
        row_numbers,
        lambda k: f"{k[0]} {k[2]} on {k[1]}",
    )
    out = pd.DataFrame({"symbol": sym, "d": day, "action": actions}, index=df.index)
    out["source_ref"] = source_ref
    out["loaded_at"] = loaded_at
    rejects = reject_frame(
        sent,
        problems,
        kind=MEMBERSHIP_EVENTS.name,
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        date_col="d" if "d" in sent.columns else "date",
        parsed_dates=day,
    )
    return Checked(_accepted(out, problems, MEMBERSHIP_EVENTS), rejects)


def check_membership_intervals(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
    seen: Seen | None = None,
) -> Checked:
    """A user's membership intervals (symbol, date_added, date_removed; date_removed empty while still a
    member) -> accepted rows (symbol, added_d, removed_d) and rejects."""
    sent = frame.reset_index(drop=True)
    df = sent
    require_columns(df, INTERVAL_REQUIRED, "membership files")
    sym, sym_problems = symbols(df["symbol"])
    added, added_problems = dates(df["date_added"])
    removed, removed_problems = dates(df["date_removed"])
    # An empty date_removed means still a member; any other value must be a date.
    removed_problems = {pos: p for pos, p in removed_problems.items() if p[0] != "missing_date"}
    problems = _merge_problems(
        sym_problems, _prefixed(added_problems, "date_added"), _prefixed(removed_problems, "date_removed")
    )
    for pos, (start, end) in enumerate(zip(added.tolist(), removed.tolist(), strict=True)):
        if pos not in problems and start is not None and end is not None and end <= start:
            problems[pos] = (
                "invalid_interval",
                f"date_removed {end} is not after date_added {start} (a member from date_added until the day "
                "before date_removed)",
            )
    keys = list(zip(sym.tolist(), added.tolist(), strict=True))
    _first_of_each_key(
        keys,
        problems,
        {} if seen is None else seen,
        source_ref,
        row_numbers,
        lambda k: f"{k[0]} added on {k[1]}",
    )
    out = pd.DataFrame({"symbol": sym, "added_d": added, "removed_d": removed}, index=df.index)
    out["source_ref"] = source_ref
    out["loaded_at"] = loaded_at
    rejects = reject_frame(
        sent,
        problems,
        kind=MEMBERSHIP_INTERVALS.name,
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        date_col="date_added",
        parsed_dates=added,
    )
    return Checked(_accepted(out, problems, MEMBERSHIP_INTERVALS), rejects)


def check_ticker_changes(
    frame: pd.DataFrame,
    source_ref: str,
    loaded_at: pd.Timestamp,
    *,
    row_numbers: pd.Series | None = None,
    seen: Seen | None = None,
) -> Checked:
    """Ticker changes (old_symbol, new_symbol, d|date = the first day under new_symbol) -> accepted rows
    and rejects."""
    sent = frame.reset_index(drop=True)
    df = _prepare(frame)
    if df.empty and len(df.columns) == 0:
        return Checked(pd.DataFrame(columns=TICKER_CHANGES.names), empty_rejects())
    require_columns(df, TICKER_CHANGE_REQUIRED, "ticker change files")
    old, old_problems = symbols(df["old_symbol"])
    new, new_problems = symbols(df["new_symbol"])
    day, day_problems = dates(df["d"])
    problems = _merge_problems(
        _prefixed(old_problems, "old_symbol"), _prefixed(new_problems, "new_symbol"), day_problems
    )
    for pos, (a, b) in enumerate(zip(old.tolist(), new.tolist(), strict=True)):
        if pos not in problems and a == b:
            problems[pos] = ("invalid_ticker_change", f"old_symbol and new_symbol are both {a}")
    keys = list(zip(old.tolist(), new.tolist(), strict=True))
    _first_of_each_key(
        keys,
        problems,
        {} if seen is None else seen,
        source_ref,
        row_numbers,
        lambda k: f"{k[0]} -> {k[1]}",
    )
    out = pd.DataFrame({"old_symbol": old, "new_symbol": new, "d": day}, index=df.index)
    out["source_ref"] = source_ref
    out["loaded_at"] = loaded_at
    rejects = reject_frame(
        sent,
        problems,
        kind=TICKER_CHANGES.name,
        source_ref=source_ref,
        loaded_at=loaded_at,
        row_numbers=row_numbers,
        symbol_col="old_symbol",
        date_col="d" if "d" in sent.columns else "date",
        parsed_dates=day,
    )
    return Checked(_accepted(out, problems, TICKER_CHANGES), rejects)


def contract_table(table: RawTable, frames: list[pd.DataFrame]) -> pa.Table:
    """Accepted rows (already one per key) -> `table`'s Arrow table; empty frames give an empty table."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return table.arrow_schema().empty_table()
    df = pd.concat(frames, ignore_index=True)
    return pa.Table.from_pandas(df[table.names], schema=table.arrow_schema(), preserve_index=False)
