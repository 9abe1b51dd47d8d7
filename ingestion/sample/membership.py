"""The file source's S&P 500 membership inputs: the `pitindex` package's bundled data, a user's own interval
file, and ticker changes.

- pitindex (MIT, a pinned dependency) ships `data/sp500_seed.csv` (effective_date, ticker: the index on one
  day) and `data/sp500_changes.csv` (date, action, ticker, name, reason: every change since). Both are read
  as files with importlib.resources, never through pitindex's query API (its answers carry staleness
  warnings and rules of its own; the warehouse wants the events as published). Each seed ticker is an
  'added' on the seed's date. source_ref is `pitindex:<installed version>`.
- A rename is recorded by pitindex as a removal plus an addition on the same day; the removal's reason
  starts with `rename → NEW:`. Those removals also give a ticker change (old ticker -> NEW, from that date).
- pitindex names a company by its ticker of today for most of its history (BKNG since 2009, never PCLN), so
  the renames it folds away come from `ticker_changes*.csv` files in the folder (the bundled sample carries
  one) and, with a key, from FMP.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import pandas as pd

from ingestion.common import IngestionError

PITINDEX = "pitindex"
SEED_FILE = "sp500_seed.csv"
CHANGES_FILE = "sp500_changes.csv"
SEED_COLUMNS = ("effective_date", "ticker")
CHANGES_COLUMNS = ("date", "action", "ticker", "reason")
# `rename → LHX: Harris + L3 Technologies merger ...`: the new ticker is the word after the arrow.
RENAME_PREFIX = "rename →"
_RENAME = re.compile(r"rename →\s*([^\s:]*)")


@dataclass
class PitindexInput:
    """One pitindex file as rows the door can check (the file's own columns, plus the ones the door reads),
    with the file's line numbers."""

    file: str
    frame: pd.DataFrame
    row_numbers: pd.Series


@dataclass
class Pitindex:
    version: str
    events: list[PitindexInput]  # the seed as 'added' rows, then the changes
    renames: PitindexInput  # the removals whose reason is `rename → NEW`


def pitindex_version() -> str:
    try:
        return importlib.metadata.version(PITINDEX)
    except importlib.metadata.PackageNotFoundError:
        raise IngestionError(
            "the pitindex package (S&P 500 membership data) is not installed: run `make setup`"
        ) from None


def _data_dir() -> Traversable:
    try:
        return importlib.resources.files(PITINDEX) / "data"
    except ModuleNotFoundError:
        raise IngestionError(
            "the pitindex package (S&P 500 membership data) is not installed: run `make setup`"
        ) from None


def _read(data_dir: Traversable, name: str, columns: tuple[str, ...], ref: str) -> pd.DataFrame:
    """Every cell as text; only an empty cell is missing (a ticker such as NA stays a ticker)."""
    try:
        with (data_dir / name).open("r", encoding="utf-8") as fh:
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise IngestionError(f"{ref}: cannot read {name}: {type(exc).__name__}: {exc}"[:300]) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise IngestionError(f"{ref}: {name} has no {', '.join(missing)} column (found: {found})")
    return frame


def _lines(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(range(2, 2 + len(frame)), index=frame.index)  # the header is line 1


def renames_of(changes: pd.DataFrame) -> pd.DataFrame:
    """The removals whose reason starts with `rename →`, as ticker changes (old_symbol, new_symbol, date),
    keeping the reason so a refused row shows what it said. A reason whose arrow names no ticker gives an
    empty new_symbol, which the door refuses (never a rename silently lost)."""
    reason = changes["reason"].fillna("").astype(str).str.strip()
    action = changes["action"].fillna("").astype(str).str.strip().str.lower()
    picked = changes[(action == "removed") & reason.str.startswith(RENAME_PREFIX)]
    new = picked["reason"].map(lambda r: (m.group(1) if (m := _RENAME.match(str(r).strip())) else "") or None)
    return pd.DataFrame(
        {
            "old_symbol": picked["ticker"],
            "new_symbol": new,
            "date": picked["date"],
            "reason": picked["reason"],
        },
        index=picked.index,
    )


def read_pitindex(data_dir: Traversable | None = None, version: str | None = None) -> Pitindex:
    """The bundled S&P 500 seed and changes as membership events, and the renames among the changes.
    `data_dir`/`version` are for tests (a folder standing in for the package's data)."""
    version = version or pitindex_version()
    data_dir = data_dir or _data_dir()
    ref = f"{PITINDEX}:{version}"
    seed = _read(data_dir, SEED_FILE, SEED_COLUMNS, ref)
    changes = _read(data_dir, CHANGES_FILE, CHANGES_COLUMNS, ref)
    seed_events = pd.DataFrame(
        {"symbol": seed["ticker"], "date": seed["effective_date"], "action": "added"}, index=seed.index
    )
    renames = renames_of(changes)
    change_lines = _lines(changes)
    return Pitindex(
        version=version,
        events=[
            PitindexInput(SEED_FILE, seed_events, _lines(seed)),
            PitindexInput(CHANGES_FILE, changes.rename(columns={"ticker": "symbol"}), change_lines),
        ],
        renames=PitindexInput(
            CHANGES_FILE, renames.reset_index(drop=True), change_lines[renames.index].reset_index(drop=True)
        ),
    )
