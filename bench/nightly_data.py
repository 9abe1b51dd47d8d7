"""File folders for the nightly benchmark: a history to load, and one held-back session to append.

The nightly job reads a folder of bar files (the `sample` source). To time "one new session" honestly the
new session must be real data the job has not seen, arriving the way a vendor drop would: a new file in
the folder. So every set is written as `folder/` (the history) plus `incoming/` (the last session, split
off before anything is loaded); `append()` moves the incoming files into the folder.

- Synthetic: bench.synthetic's deterministic random walk; the last generated session is held back, so
  "10 years" is 2,519 sessions loaded plus the 2,520th arriving.
- Bundled sample: a copy of data/sample with its last session (2018-02-07) held back, each bar file's
  rows of that day written to `incoming/next_<file name>` in the file's own columns and text. An optional
  symbol limit keeps the first N stocks (and every ETF), for quick runs of the harness.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.synthetic import generate
from ingestion.sample.helpers import bar_files, constituent_files, read_table
from rapidtrader import PROJECT_ROOT

SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
STOCKS_FILE_PREFIX = "sp500_ohlcv"


@dataclass
class FileSet:
    """A folder of bar files ready to load, and the held-back session (if any) waiting in `incoming`."""

    label: str
    folder: Path
    incoming: Path | None
    history_bars: int
    new_bars: int
    first_day: str
    last_history_day: str
    new_day: str | None

    def describe(self) -> str:
        held = f", then {self.new_bars:,} bars of {self.new_day}" if self.new_day else ""
        return f"{self.label}: {self.history_bars:,} bars {self.first_day} .. {self.last_history_day}{held}"


def append(files: FileSet) -> list[Path]:
    """Drop the held-back session into the folder the job reads, as a vendor's new file would arrive."""
    if files.incoming is None:
        return []
    moved = []
    for path in sorted(files.incoming.iterdir()):
        target = files.folder / path.name
        shutil.move(path, target)
        moved.append(target)
    return moved


def synthetic_set(out: Path, symbols: int, years: int, hold_back: bool = True) -> FileSet:
    """The synthetic set of `symbols` stocks + SPY over `years` x 252 sessions, last session held back."""
    folder, incoming = out / "bars", out / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    bars, constituents = generate(n_symbols=symbols, years=years)
    days = sorted(bars["date"].unique())
    new = bars[bars["date"] == days[-1]] if hold_back else bars.iloc[0:0]
    history = bars[bars["date"] < days[-1]] if hold_back else bars
    history.to_parquet(folder / "bars.parquet", index=False)
    constituents.to_csv(folder / "sp500_constituents_synthetic.csv", index=False)
    if hold_back:
        incoming.mkdir(parents=True, exist_ok=True)
        new.to_parquet(incoming / f"bars_{days[-1]}.parquet", index=False)
    return FileSet(
        label=f"synthetic {years} y x {symbols} symbols",
        folder=folder,
        incoming=incoming if hold_back else None,
        history_bars=len(history),
        new_bars=len(new),
        first_day=str(days[0]),
        last_history_day=str(days[-2] if hold_back else days[-1]),
        new_day=str(days[-1]) if hold_back else None,
    )


def _date_column(frame: pd.DataFrame) -> str:
    return "date" if "date" in frame.columns else "d"


def _write_like(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame read with read_table back in the same format (text stays text)."""
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def sample_set(out: Path, symbols: int | None = None, hold_back: bool = True) -> FileSet:
    """The bundled sample, whole or cut to its first `symbols` stocks, with its last session held back.
    With neither a cut nor a hold-back there is nothing to copy: the bundled folder itself is returned."""
    if symbols is None and not hold_back:
        return _describe_folder("bundled sample", SAMPLE_DIR)
    folder, incoming = out / "bars", out / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    frames = {path: read_table(path) for path in bar_files(SAMPLE_DIR)}
    keep: set[str] | None = None
    if symbols is not None:
        stocks = [f for p, f in frames.items() if p.name.startswith(STOCKS_FILE_PREFIX)]
        keep = set(sorted(pd.concat(stocks)["symbol"].unique())[:symbols])
        frames = {
            p: (f[f["symbol"].isin(keep)] if p.name.startswith(STOCKS_FILE_PREFIX) else f) for p, f in frames.items()
        }
    last = max(str(f[_date_column(f)].max()) for f in frames.values())
    history_bars = new_bars = 0
    first = min(str(f[_date_column(f)].min()) for f in frames.values())
    for path, frame in frames.items():
        is_new = frame[_date_column(frame)].astype(str) == last if hold_back else pd.Series(False, index=frame.index)
        _write_like(frame[~is_new], folder / path.name)
        history_bars += int((~is_new).sum())
        if is_new.any():
            incoming.mkdir(parents=True, exist_ok=True)
            _write_like(frame[is_new], incoming / f"next_{path.name}")
            new_bars += int(is_new.sum())
    for path in constituent_files(SAMPLE_DIR):
        members = read_table(path)
        if keep is not None:
            members = members[members["symbol"].isin(keep)]
        members.to_csv(folder / path.name, index=False)
    days = sorted({str(d) for f in frames.values() for d in f[_date_column(f)].unique()})
    cut = f", first {symbols} stocks" if symbols is not None else ""
    return FileSet(
        label=f"bundled sample{cut}",
        folder=folder,
        incoming=incoming if new_bars else None,
        history_bars=history_bars,
        new_bars=new_bars,
        first_day=first,
        last_history_day=days[-2] if new_bars else last,
        new_day=last if new_bars else None,
    )


def _describe_folder(label: str, folder: Path) -> FileSet:
    """A FileSet for a folder used as it is (nothing held back)."""
    frames = [read_table(path) for path in bar_files(folder)]
    dates = pd.concat([f[_date_column(f)].astype(str) for f in frames])
    return FileSet(label, folder, None, len(dates), 0, dates.min(), dates.max(), None)
