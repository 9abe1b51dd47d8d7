"""Reading the file source's files (CSV, CSV.GZ or Parquet), and telling them apart by name.

- Constituent files: `sp500_constituents*` with symbol, name, sector and optionally sub_industry, date_added.
- Corporate actions: `corporate_actions*` with symbol, date, action (split|dividend), value.
- Membership intervals: `sp500_membership*` with symbol, date_added, date_removed (empty: still a member).
- Ticker changes: `ticker_changes*` with old_symbol, new_symbol, date (the first day under new_symbol).
- Bar files: every other file, with columns symbol, date (or d), open, high, low, close, volume and
  optionally adj_close.

A file that cannot be read as a whole (not comma-separated, a required column missing, broken CSV) stops
the run with one line naming the file and what is wrong; single bad rows are the door's business.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.common import IngestionError

BAR_SUFFIXES = (".csv", ".csv.gz", ".parquet")
SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _is_data_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(BAR_SUFFIXES)


CONSTITUENTS_PREFIX = "sp500_constituents"
ACTIONS_PREFIX = "corporate_actions"
MEMBERSHIP_PREFIX = "sp500_membership"
TICKER_CHANGES_PREFIX = "ticker_changes"
# Files of these kinds are never read as bars.
NOT_BARS = (CONSTITUENTS_PREFIX, ACTIONS_PREFIX, MEMBERSHIP_PREFIX, TICKER_CHANGES_PREFIX)


def _named(folder: Path, prefix: str) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if _is_data_file(p) and p.name.startswith(prefix)]


def bar_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if _is_data_file(p) and not p.name.startswith(NOT_BARS)]


def constituent_files(folder: Path) -> list[Path]:
    return _named(folder, CONSTITUENTS_PREFIX)


def action_files(folder: Path) -> list[Path]:
    return _named(folder, ACTIONS_PREFIX)


def membership_files(folder: Path) -> list[Path]:
    return _named(folder, MEMBERSHIP_PREFIX)


def ticker_change_files(folder: Path) -> list[Path]:
    return _named(folder, TICKER_CHANGES_PREFIX)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\x00", "\\x00")
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def read_table(path: Path) -> pd.DataFrame:
    """Read one file with every CSV column as text first, so a malformed number stays visible (stored null
    and quarantined) instead of failing the whole file. Parquet keeps its types: the door reads them
    without guessing (an integer is not a date, a boolean is not a volume)."""
    try:
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=True)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one clear message
        raise IngestionError(f"cannot read {path.name}: {type(exc).__name__}: {_one_line(exc)}") from None
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for sep, name in SEPARATORS.items():
            if sep in header:
                raise IngestionError(
                    f"{path.name} is {name}-separated (header {header[:80]!r}); files must be comma-separated: "
                    "symbol,date,open,high,low,close,volume"
                )
    return frame


def row_numbers(path: Path, frame: pd.DataFrame) -> pd.Series:
    """Where each row is in its file: the line of a CSV (the header is line 1), the row of a Parquet file."""
    first = 1 if path.name.endswith(".parquet") else 2
    return pd.Series(range(first, first + len(frame)), index=frame.index)
