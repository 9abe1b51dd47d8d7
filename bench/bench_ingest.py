"""Ingestion benchmark: load the synthetic 503-symbol x 10-year set (about 1.27M bars) through
the file source (dlt, Arrow, merge) into a scratch database and report rows/s and peak memory.

    python -m bench.bench_ingest [--years 10] [--keep]

Targets: >= 80,000 bars/s and < 1 GB peak RSS on 2 cores. The load runs in a child process, so its peak
RSS is measured apart from the generator's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

from bench.server import bench_server
from bench.synthetic import write
from rapidtrader.db import DbUrl, create_scratch_database, drop_database


def _load(url: DbUrl, folder: Path) -> tuple[float, float]:
    """Run the real CLI in a child process; return (seconds, child peak RSS in MB)."""
    env = dict(os.environ, RT_DB_URL=url.url, RT_SAMPLE_DIR=str(folder), RT_PROGRESS="0")
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "rapidtrader.jobs.eod_ingest", "--source", "sample"], env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"the load failed with exit code {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--symbols", type=int, default=503)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)

    server = bench_server()
    name = f"rt_bench_ingest_{uuid.uuid4().hex[:6]}"
    url = create_scratch_database(server, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _, n_bars = write(folder, n_symbols=args.symbols, years=args.years)
            print(f"synthetic set: {n_bars:,} bars ({args.symbols} symbols + SPY, {args.years} years)")
            seconds, peak_mb = _load(url, folder)
            print(
                f"full load: {seconds:.1f} s wall (process start included), {n_bars / seconds:,.0f} bars/s, "
                f"peak RSS {peak_mb:,.0f} MB"
            )

            # One more session for every symbol: the nightly increment (re-reads the 5-day tail too).
            bars = pd.read_parquet(folder / "bars.parquet")
            last = bars[bars["date"] == bars["date"].max()].copy()
            last["date"] = pd.Timestamp(last["date"].iloc[0]) + pd.offsets.BDay(1)
            pd.concat([bars, last]).to_parquet(folder / "bars.parquet", index=False)
            seconds_day, peak_day = _load(url, folder)
            print(
                f"one new day ({len(last)} bars + 5-day re-read tail): {seconds_day:.1f} s wall, "
                f"peak RSS {peak_day:,.0f} MB"
            )
            print(
                f"targets: >= 80,000 bars/s -> {'MET' if n_bars / seconds >= 80_000 else 'MISSED'}; "
                f"< 1,024 MB -> {'MET' if peak_mb < 1024 else 'MISSED'}"
            )
    finally:
        if not args.keep:
            drop_database(server, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
