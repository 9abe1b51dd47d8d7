"""Reading bar, corporate-action and constituent files (CSV, CSV.GZ or Parquet) for the file source.

Bar files: any file whose name does not start with `sp500_constituents` or `corporate_actions`, with
columns symbol, date (or d), open, high, low, close, volume and optionally adj_close. Constituent files:
`sp500_constituents*.csv` with symbol, name, sector and optionally sub_industry, date_added. Corporate
actions: `corporate_actions*.csv` with symbol, date, action (split|dividend), value.

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


def bar_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in sorted(folder.iterdir())
        if _is_data_file(p) and not p.name.startswith(("sp500_constituents", "corporate_actions"))
    ]
    return files


def constituent_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if _is_data_file(p) and p.name.startswith("sp500_constituents")]


def action_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if _is_data_file(p) and p.name.startswith("corporate_actions")]


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
