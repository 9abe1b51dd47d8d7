"""Benchmark of the parameter sweep: 10, 100 and 400 runs over the bundled sample's window.

    python -m bench.bench_sweep [--db URL] [--runs 10,100,400] [--start 2013-02-08] [--end 2018-02-07]

With --db, the database must already hold the warehouse (`make demo`). Otherwise a scratch database is made
on RT_BENCH_DB_URL (default the local server), loaded with the bundled sample and built (not timed). For
each size it runs `python -m rapidtrader.jobs.sweep`'s work (rapidtrader.jobs.sweep.run: store the grid,
`dbt build --select tag:sweep`) on a grid of that many runs and prints the wall time, the time per run, the
ledger pass alone (the shards int_sweep_ledger_shard_<n>, from the first one's start to the last one's end
in dbt's run_results), the rows it stored and the peak memory: the largest resident size of a Postgres
backend of the database while the sweep ran (each shard of the ledger pass runs in one), the database's
largest footprint at one time (its backends' private memory summed, plus the shared buffers and libraries
once), and the dbt process's. A benchmark, not a test: it prints figures
and exits 0 unless something failed.

The grids (the signals are decided once per distinct RSI level: two sets for 10 runs, four for 100 and 400):
  10  = RT_RSI_BUY 25,30 x RT_ATR_STOP_K 1.5,2,2.5,3,3.5 (two signal sets)
  100 = RT_RSI_BUY 25,30,35,40 x RT_ATR_STOP_K (5) x RT_MAX_EXPOSURE_PER_SECTOR 0.2,0.25,0.3,0.35,0.4
  400 = the 100 x RT_PCT_PER_TRADE 0.03,0.04,0.05,0.06
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import threading
import time
from pathlib import Path

from bench.bench_ledger import dbt, sql
from bench.server import bench_server
from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, connect, create_scratch_database, drop_database
from rapidtrader.jobs import sweep

DIMENSIONS = {
    "RT_RSI_BUY": "25,30,35,40",
    "RT_ATR_STOP_K": "1.5,2,2.5,3,3.5",
    "RT_MAX_EXPOSURE_PER_SECTOR": "0.2,0.25,0.3,0.35,0.4",
    "RT_PCT_PER_TRADE": "0.03,0.04,0.05,0.06",
}


def grid_of(n_runs: int) -> sweep.Grid:
    if n_runs == 10:
        return sweep.product_grid(["RT_RSI_BUY=25,30", f"RT_ATR_STOP_K={DIMENSIONS['RT_ATR_STOP_K']}"])
    names = list(DIMENSIONS)[: {100: 3, 400: 4}[n_runs]]
    return sweep.product_grid([f"{name}={DIMENSIONS[name]}" for name in names])


class BackendPeak:
    """Polls the resident peak (VmHWM) of every backend of the database while a sweep runs."""

    def __init__(self, url: DbUrl) -> None:
        self.url, self.peak_kb, self.total_peak_kb, self._stop = url, 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        conn = connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self._stop.wait(0.5):
                    cur.execute("select pid from pg_stat_activity where datname = current_database()")
                    private_kb, shared_kb = 0, 0
                    for (pid,) in cur.fetchall():
                        try:
                            status = Path(f"/proc/{pid}/status").read_text()
                        except OSError:
                            continue
                        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

                        def kb(name: str, fields: dict[str, str] = fields) -> int:
                            return int(fields.get(name, "0 kB").split()[0])

                        self.peak_kb = max(self.peak_kb, kb("VmHWM"))
                        private_kb += kb("RssAnon")
                        shared_kb = max(shared_kb, kb("RssFile") + kb("RssShmem"))
                    # the shards of the ledger pass run in backends at once: the database's footprint is their
                    # private memory summed plus the shared buffers and libraries once (each backend maps them)
                    self.total_peak_kb = max(self.total_peak_kb, private_kb + shared_kb)
        finally:
            conn.close()

    def __enter__(self) -> BackendPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def ledger_seconds() -> float | None:
    """The ledger pass's wall time: from the first shard's start to the last shard's end (they run at once)."""
    results = PROJECT_ROOT / "target" / "run_results.json"
    if not results.exists():
        return None
    spans = [
        (dt.datetime.fromisoformat(t["started_at"]), dt.datetime.fromisoformat(t["completed_at"]))
        for row in json.loads(results.read_text())["results"]
        if ".int_sweep_ledger_shard_" in row["unique_id"]
        for t in row["timing"]
        if t.get("started_at") and t.get("completed_at")
    ]
    if not spans:
        return None
    return round((max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds(), 1)


def bench(url: DbUrl, sizes: list[int], start: str, end: str) -> list[dict]:
    figures = []
    for n_runs in sizes:
        grid = grid_of(n_runs)
        with BackendPeak(url) as backend:
            began = time.perf_counter()
            sweep_id = sweep.run(url, grid, start, end)
            seconds = time.perf_counter() - began
        _, [(rows,)] = sql(url, f"select count(*) from intermediate.int_sweep_ledger where sweep_id = {sweep_id}")
        _, [(size,)] = sql(
            url,
            "select sum(pg_total_relation_size(oid))::bigint from pg_class where relkind = 'r'"
            " and relnamespace = 'intermediate'::regnamespace and relname ~ '^int_sweep_ledger_shard_[0-9]+$'",
        )
        row = {
            "runs": n_runs,
            "seconds": round(seconds, 1),
            "seconds_per_run": round(seconds / n_runs, 2),
            "ledger_pass_s": ledger_seconds(),
            "ledger_rows": rows,
            "ledger_table_mb": round(size / 1024**2, 1),
            "backend_peak_mb": round(backend.peak_kb / 1024, 1),
            "backends_at_once_peak_mb": round(backend.total_peak_kb / 1024, 1),
            "dbt_peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        }
        figures.append(row)
        print(
            f"  {n_runs:>4} runs: {row['seconds']:.1f} s ({row['seconds_per_run']:.2f} s a run; ledger pass "
            f"{row['ledger_pass_s'] or 0:.1f} s), {rows:,} ledger rows ({row['ledger_table_mb']} MB so far), "
            f"peak memory: Postgres backend {row['backend_peak_mb']} MB (all of the database's backends at once "
            f"{row['backends_at_once_peak_mb']} MB), dbt {row['dbt_peak_mb']} MB",
            flush=True,
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="a built warehouse (`make demo`); default: a scratch one with the sample")
    parser.add_argument("--runs", default="10,100,400", help="grid sizes: 10, 100 and/or 400")
    parser.add_argument("--start", default="2013-02-08")
    parser.add_argument("--end", default="2018-02-07")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.runs.split(",")]
    print(f"Parameter sweep over {args.start} .. {args.end}:")
    name = None
    if args.db:
        url = DbUrl(args.db)
    else:
        from rapidtrader.jobs.eod_ingest import load
        from rapidtrader.settings import Settings

        server = bench_server()
        name = f"rt_bench_sweep_{int(time.time())}"
        url = create_scratch_database(server, name)
        load(url, "sample", Settings(db_url=url.url))
        print(f"  inputs: building the warehouse in {name} (not timed) ...", flush=True)
        dbt(url, "build", "--exclude-resource-type", "test", "unit_test")
    try:
        figures = bench(url, sizes, args.start, args.end)
    finally:
        if name and not args.keep:
            drop_database(bench_server(), name)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
