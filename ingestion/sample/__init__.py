"""The file source: the bundled offline sample, or a user's own CSV/Parquet bar files, through dlt.

It loads into `raw_sample` exactly as the vendor sources load theirs: same columns, merge on
(symbol, d, dup_seq), per-symbol incremental windows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dlt
import pandas as pd

from ingestion.common import (
    ACTION_KEY,
    BAR_COLUMNS,
    BAR_KEY,
    FetchReport,
    IngestionError,
    LoadWindow,
    now_utc,
    to_action_table,
    to_bar_table,
    to_constituent_table,
)
from ingestion.sample.helpers import action_files, bar_files, constituent_files, read_table

WindowsFn = Callable[[list[str]], dict[str, LoadWindow]]


def _select(frame: pd.DataFrame, windows: dict[str, LoadWindow]) -> pd.DataFrame:
    """Keep the rows inside each symbol's window; symbols without a window are not asked for."""
    if frame.empty:
        return frame
    dates = pd.to_datetime(frame["d"] if "d" in frame.columns else frame["date"], errors="coerce").dt.date
    bounds = pd.DataFrame([(s, w.start, w.end) for s, w in windows.items()], columns=["symbol", "_start", "_end"])
    merged = frame.assign(_d=dates).merge(bounds, on="symbol", how="inner")
    # A row whose date cannot be parsed is kept (it is quarantined downstream, never silently dropped).
    keep = merged["_d"].isna() | ((merged["_d"] >= merged["_start"]) & (merged["_d"] <= merged["_end"]))
    return merged.loc[keep, list(frame.columns)]


@dlt.source(name="sample")
def sample_source(
    folder: Path,
    windows_fn: WindowsFn,
    report: FetchReport,
    symbols: list[str] | None = None,
):
    """Bars, corporate actions and the constituent list from the files in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IngestionError(f"sample folder {folder} does not exist; set RT_SAMPLE_DIR to your bar files")
    files = bar_files(folder)
    if not files:
        raise IngestionError(f"no bar files (*.csv, *.csv.gz, *.parquet) in {folder}")
    loaded_at = now_utc()

    @dlt.resource(name="bars", write_disposition="merge", primary_key=BAR_KEY, columns=BAR_COLUMNS)
    def bars():
        frames = []
        for path in files:
            frame = read_table(path)
            if "symbol" not in frame.columns:
                raise IngestionError(f"{path.name}: no `symbol` column (expected symbol,date,open,...)")
            frame["symbol"] = frame["symbol"].astype("string").str.strip().str.upper()
            frames.append((path, frame))
        universe = sorted({s for _, f in frames for s in f["symbol"].dropna().unique()})
        wanted = [s for s in universe if symbols is None or s in set(symbols)]
        report.requested = wanted
        windows = windows_fn(wanted)
        for path, frame in frames:
            chosen = _select(frame, windows)
            if chosen.empty:
                continue
            table = to_bar_table(chosen, source_ref=f"file:{path.name}", loaded_at=loaded_at)
            for symbol, count in chosen["symbol"].value_counts().items():
                report.ok(str(symbol), int(count))
            yield table
        for symbol in wanted:
            if symbol not in report.loaded_symbols and symbol in windows:
                # Nothing new inside its window: up to date, not a failure.
                report.loaded_symbols.add(symbol)

    @dlt.resource(name="corporate_actions", write_disposition="merge", primary_key=ACTION_KEY)
    def corporate_actions():
        for path in action_files(folder):
            frame = read_table(path).rename(columns={"date": "d"})
            if symbols is not None:
                frame = frame[frame["symbol"].str.upper().isin(symbols)]
            yield to_action_table(frame, source_ref=f"file:{path.name}", loaded_at=loaded_at)

    @dlt.resource(name="constituents", write_disposition="replace")
    def constituents():
        paths = constituent_files(folder)
        if not paths:
            return
        # The newest snapshot wins when several are bundled (names sort by date).
        frame = read_table(paths[-1])
        yield to_constituent_table(frame, source_ref=f"file:{paths[-1].name}")

    return bars, corporate_actions, constituents
