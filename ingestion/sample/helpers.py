"""Reading bar, corporate-action and constituent files (CSV, CSV.GZ or Parquet) for the file source.

Bar files: any file whose name does not start with `sp500_constituents` or `corporate_actions`, with
columns symbol, date (or d), open, high, low, close, volume and optionally adj_close. Constituent files:
`sp500_constituents*.csv` with symbol, name, sector and optionally sub_industry, date_added. Corporate
actions: `corporate_actions*.csv` with symbol, date, action (split|dividend), value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingestion.common import IngestionError

BAR_SUFFIXES = (".csv", ".csv.gz", ".parquet")


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


def read_table(path: Path) -> pd.DataFrame:
    """Read one file with every column as text first, so a malformed number stays visible (coerced to
    null later and quarantined) instead of failing the whole file."""
    try:
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one clear message
        raise IngestionError(f"cannot read {path}: {exc}") from exc
