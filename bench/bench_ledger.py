"""Benchmark of the paper ledger: a full backtest and one night's step.

    python -m bench.bench_ledger [--db URL] [--sample | --synthetic-years 10 [--symbols 503]] [--keep]

With --db, the database must already hold the inputs (bars_daily, symbols, signals_daily, market_state:
`make demo` or `make eod`). Otherwise a scratch database is made on RT_BENCH_DB_URL (default the local
server) and loaded with the bundled sample (default) or the synthetic set (bench/synthetic.py); loading and
building the inputs is not timed. Prints:
  - full backtest: `dbt run --full-refresh` of ledger (the plpgsql step over every day), then
    `dbt build` of everything downstream with its tests, and `make backtest`'s dbt build (tag:backtest);
  - one night: the SQL of one day's step (udf.rt_ledger_advance_v2 reading a state one day behind), then the
    nightly `dbt build --select ledger+` wall time after that day arrives (dbt's fixed ~3 s included).
A benchmark, not a test: it prints figures and exits 0 unless something failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.server import bench_server
from rapidtrader.db import DbUrl, connect, create_scratch_database, drop_database
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import backtest
from rapidtrader.settings import dbt_vars

INPUTS = ["+signals_daily", "+market_state", "+symbols"]


def dbt(url: DbUrl, *args: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = run_dbt(list(args), url, capture=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    return elapsed


def sql(url: DbUrl, statement: str) -> tuple[float, list[tuple]]:
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute(statement)
            rows = cur.fetchall() if cur.description else []
            return time.perf_counter() - start, rows
    finally:
        conn.close()


def prepare(server: DbUrl, synthetic_years: int | None, symbols: int) -> tuple[DbUrl, str]:
    """A scratch database with the ledger's inputs built (not timed)."""
    from bench.bench_indicators import ingest_folder

    name = f"rt_bench_ledger_{uuid.uuid4().hex[:6]}"
    url = create_scratch_database(server, name)
    if synthetic_years:
        from bench.synthetic import write

        with tempfile.TemporaryDirectory() as tmp:
            write(Path(tmp), n_symbols=symbols, years=synthetic_years)
            ingest_folder(url, Path(tmp))
    else:
        from rapidtrader.jobs.eod_ingest import load
        from rapidtrader.settings import Settings

        load(url, "sample", Settings(db_url=url.url))
    print(f"  inputs: building {' '.join(INPUTS)} in {name} (not timed) ...", flush=True)
    dbt(url, "build", "--select", *INPUTS, "--exclude-resource-type", "test", "unit_test")
    return url, name


def bench(url: DbUrl) -> None:
    _, [(n_days, first_d, last_d)] = sql(url, "select count(distinct d), min(d), max(d) from marts.bars_daily")
    _, [(n_symbols,)] = sql(url, "select count(distinct symbol) from marts.bars_daily")
    print(f"  data: {n_symbols} symbols x {n_days} days ({first_d} .. {last_d})")

    ledger_s = dbt(url, "run", "--select", "ledger", "--full-refresh")
    downstream_s = dbt(url, "build", "--select", "ledger+", "--exclude", "ledger")
    _, [(rows,)] = sql(url, "select count(*) from marts.ledger")
    print(
        f"  full ledger: dbt run ledger --full-refresh {ledger_s:.1f} s ({rows:,} ledger rows); "
        f"downstream marts + tests {downstream_s:.1f} s; total {ledger_s + downstream_s:.1f} s (target <= 60 s)"
    )
    backtest_s = dbt(url, "build", "--select", "tag:backtest", env=backtest.window_env(str(first_d), str(last_d)))
    print(f"  make backtest (dbt build tag:backtest over the whole history): {backtest_s:.1f} s")

    # One night: a state one day behind, then the SQL of the step alone.
    sql(url, "drop table if exists public.bench_ledger_state")
    sql(url, f"create table public.bench_ledger_state as select * from marts.ledger where d < '{last_d}'")
    # The call the ledger model makes (macros/trading/ledger_advance.sql), with the default settings as the
    # one run; named arguments, so a reordered signature fails loudly here instead of timing something else.
    runs = "[" + dbt_vars()["rt_ledger_run"] + "]"
    call = (
        "select count(*) from udf.rt_ledger_advance_v2(p_bars => 'marts.bars_daily', "
        "p_signals => 'marts.signals_daily', p_market => 'marts.market_state', p_symbols => 'marts.symbols', "
        "p_membership => 'marts.universe_membership', "
        "p_state => 'public.bench_ledger_state', p_start => null, p_end => null, "
        f"p_runs => '{runs}'::jsonb, p_publish_last => false)"
    )
    step_s, [(step_rows,)] = sql(url, call)
    print(f"  one night: rt_ledger_advance_v2 SQL {step_s:.2f} s ({step_rows} rows for {last_d}; target <= 3 s)")
    sql(url, "drop table public.bench_ledger_state")

    # The same night through dbt: remove the last day from the ledger, then the nightly build.
    sql(url, f"delete from marts.ledger where d = '{last_d}'")
    night_s = dbt(url, "build", "--select", "ledger+")
    noop_s = dbt(url, "build", "--select", "ledger+")
    print(
        f"  one night through dbt: build ledger+ (model, 7 marts, tests) {night_s:.1f} s wall; "
        f"re-run with nothing new {noop_s:.1f} s wall (dbt's fixed overhead ~3 s included)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="a database whose inputs are built (skips loading)")
    parser.add_argument("--synthetic-years", type=int, help="use the synthetic set instead of the sample")
    parser.add_argument("--symbols", type=int, default=503)
    parser.add_argument("--server", help="maintenance URL of the server (default: RT_BENCH_DB_URL, else embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    os.environ.setdefault("RT_PROGRESS", "0")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    server = DbUrl(args.server).with_password() if args.server else bench_server()
    name = None
    try:
        if args.db:
            url = DbUrl(args.db)
        else:
            url, name = prepare(server, args.synthetic_years, args.symbols)
        label = args.db or (f"synthetic {args.synthetic_years} years" if args.synthetic_years else "bundled sample")
        print(f"ledger benchmark on {label}:", flush=True)
        bench(url)
    except Exception as exc:  # a benchmark: say what failed and exit non-zero
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if name and not args.keep:
            drop_database(server, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
