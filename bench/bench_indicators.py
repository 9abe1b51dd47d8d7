"""Benchmark of the analytics models (indicators_daily, signals_daily, market_state) on the synthetic set.

    python -m bench.bench_indicators [--symbols 503] [--years 10] [--small-years 5] [--large-years 20]
                                     [--server URL] [--keep]

Prints, for a scratch database per history length (dropped at the end unless --keep):
  - full refresh: `dbt build --full-refresh` of the models and their tests on --years of history;
  - one new day appended (bars loaded through dlt, the foundation rebuilt, not timed), then the incremental
    `dbt build` of the same models, at --small-years and --large-years of history, and their ratio
    (target: <= 10 s, large no more than 20% slower than small);
  - the same indicators in memory with TA-Lib and with pandas on the --years set, and the ratios.
A benchmark, not a test: it prints figures and exits 0 unless something failed. Needs a Postgres server
(RT_BENCH_DB_URL or --server); say `make db-start` or point --server at one if it cannot connect.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.server import bench_server
from rapidtrader.db import DbUrl, create_scratch_database, drop_database
from rapidtrader.dbt_runner import run_dbt

OWN_MODELS = ["indicators_daily", "signals_decided", "signals_daily", "market_state"]
FOUNDATION = ["+bars_daily", "+symbols", "market_symbols", "trading_calendar"]


@dataclass
class HistoryRun:
    years: int
    bars: int
    load_s: float
    foundation_s: float
    full_refresh_s: float
    append_load_s: float
    append_foundation_s: float
    incremental_s: float


def dbt(url: DbUrl, *args: str) -> float:
    """Run dbt; seconds of wall time. Raises with dbt's output on failure."""
    start = time.perf_counter()
    result = run_dbt(list(args), url, capture=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    return elapsed


def ingest_folder(url: DbUrl, folder: Path, end=None) -> float:
    from rapidtrader.jobs.eod_ingest import load
    from rapidtrader.settings import Settings

    start = time.perf_counter()
    settings = Settings(db_url=url.url, sample_dir=folder)
    load(url, "sample", settings, end=end)
    return time.perf_counter() - start


def synthetic(folder: Path, symbols: int, years: int) -> pd.DataFrame:
    from bench.synthetic import write

    write(folder, n_symbols=symbols, years=years)
    return pd.read_parquet(folder / "bars.parquet")


def run_history(server: DbUrl, symbols: int, years: int, keep: bool) -> tuple[HistoryRun, pd.DataFrame]:
    """Load all but the last day, full refresh, then append the last day and build incrementally."""
    name = f"rt_bench_ind_{years}y_{uuid.uuid4().hex[:6]}"
    url = create_scratch_database(server, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            bars = synthetic(folder, symbols, years)
            days = sorted(pd.to_datetime(bars["date"]).dt.date.unique())
            load_s = ingest_folder(url, folder, end=days[-2])
            foundation_s = dbt(url, "build", "--select", *FOUNDATION)
            full_s = dbt(url, "build", "--full-refresh", "--select", *OWN_MODELS)
            append_load_s = ingest_folder(url, folder)
            append_foundation_s = dbt(url, "build", "--select", *FOUNDATION)
            incremental_s = dbt(url, "build", "--select", *OWN_MODELS)
        run = HistoryRun(
            years, len(bars), load_s, foundation_s, full_s, append_load_s, append_foundation_s, incremental_s
        )
        print(
            f"  {years:>2} years, {len(bars):,} bars: load {load_s:.1f} s, foundation {foundation_s:.1f} s, "
            f"full refresh {full_s:.1f} s | +1 day: load {append_load_s:.1f} s, foundation "
            f"{append_foundation_s:.1f} s, incremental build {incremental_s:.1f} s",
            flush=True,
        )
        return run, bars
    finally:
        if not keep:
            drop_database(server, name)


def talib_indicators(bars: pd.DataFrame) -> float:
    import talib

    start = time.perf_counter()
    for _, g in bars.groupby("symbol", sort=False):
        h, lo, c = (g[x].to_numpy(dtype=float) for x in ("high", "low", "close"))
        for n in (20, 50, 100, 200):
            talib.SMA(c, n)
        talib.RSI(c, 14)
        talib.ATR(h, lo, c, 14)
    return time.perf_counter() - start


def pandas_indicators(bars: pd.DataFrame) -> float:
    """The usual pandas recipe (rolling means, ewm with alpha 1/14): same indicators, TA-Lib's seed aside."""
    start = time.perf_counter()
    frame = bars.sort_values(["symbol", "date"])
    by = frame.groupby("symbol", sort=False)
    close = frame["close"]
    for n in (20, 50, 100, 200):
        by["close"].transform(lambda s, n=n: s.rolling(n).mean())
    change = by["close"].diff()
    gain = change.clip(lower=0).groupby(frame["symbol"]).transform(lambda s: s.ewm(alpha=1 / 14, adjust=False).mean())
    loss = (
        (-change.clip(upper=0)).groupby(frame["symbol"]).transform(lambda s: s.ewm(alpha=1 / 14, adjust=False).mean())
    )
    _ = 100 * gain / (gain + loss)
    prev = by["close"].shift()
    tr = np.maximum.reduce([frame["high"] - frame["low"], (frame["high"] - prev).abs(), (frame["low"] - prev).abs()])
    pd.Series(tr, index=frame.index).groupby(frame["symbol"]).transform(
        lambda s: s.ewm(alpha=1 / 14, adjust=False).mean()
    )
    del close
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=503)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--small-years", type=int, default=5)
    parser.add_argument("--large-years", type=int, default=20)
    parser.add_argument("--server", help="maintenance URL of the server (default: RT_BENCH_DB_URL, else embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_TARGET_PATH", tempfile.mkdtemp(prefix="rt_bench_target_"))
    os.environ.setdefault("DBT_LOG_PATH", tempfile.mkdtemp(prefix="rt_bench_logs_"))
    server = DbUrl(args.server).with_password() if args.server else bench_server()
    try:
        import psycopg2

        psycopg2.connect(server.url).close()
    except Exception as exc:  # noqa: BLE001 - one clear sentence for any connection failure
        print(f"error: cannot reach Postgres at {server.host}:{server.port} ({exc}); pass --server", file=sys.stderr)
        return 2

    print(f"analytics benchmark: {args.symbols} symbols + SPY, server {server.host}:{server.port}", flush=True)
    try:
        runs = {}
        for years in sorted({args.small_years, args.years, args.large_years}):
            runs[years], bars = run_history(server, args.symbols, years, args.keep)
            if years == args.years:
                main_bars = bars
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    full = runs[args.years]
    talib_s = talib_indicators(main_bars)
    pandas_s = pandas_indicators(main_bars)
    small, large = runs[args.small_years], runs[args.large_years]
    growth = large.incremental_s / small.incremental_s - 1
    print()
    print(
        f"full refresh ({args.years} y, {full.bars:,} bars), dbt build incl. tests: {full.full_refresh_s:.1f} s "
        f"(target <= 60 s)"
    )
    print(
        f"incremental +1 day, dbt build incl. tests: {small.incremental_s:.1f} s at {args.small_years} y, "
        f"{large.incremental_s:.1f} s at {args.large_years} y: {growth:+.0%} (targets <= 10 s, <= +20%)"
    )
    print(f"in memory, same indicators on the {args.years}-year bars: TA-Lib {talib_s:.2f} s, pandas {pandas_s:.2f} s")
    print(
        f"ratios: SQL full refresh / TA-Lib = {full.full_refresh_s / talib_s:.0f}x, "
        f"SQL full refresh / pandas = {full.full_refresh_s / pandas_s:.0f}x, "
        f"SQL nightly increment / TA-Lib full recompute = {small.incremental_s / talib_s:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
