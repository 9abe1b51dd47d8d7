"""Benchmark of what a night costs: the real jobs, as child processes, on scratch databases.

    python -m bench.bench_nightly [--years 5,10,20] [--symbols 503] [--no-sample] [--sample-symbols N]
                                  [--only eod,noop,rebuild,backtest,size] [--rebuild-years 10|all]
                                  [--skip-report] [--no-targets] [--json FILE] [--server URL] [--keep]

For each synthetic history length (bench.synthetic, deterministic) and for the bundled sample, on a
scratch database of its own (RT_BENCH_DB_URL, --server, or the embedded server):
  1. eod      load the history and run the nightly job once (not timed), drop the held-back last session
              into the file folder, then time `python -m rapidtrader.jobs.eod --source sample` (with the
              report, as `make eod` runs it; --skip-report times it without). Targets: <= 15 s at 10 years;
              20 years at most 10% slower than 5 years.
  2. noop     run the same job again right after: target <= 8 s, and it must change nothing: a digest of
              every marts relation and the ledger (tests/marts_digest.py) before and after must be equal,
              and no stored row of any table outside ops may have been rewritten (row text with xmin).
  3. rebuild  `python -m rapidtrader.dbt_runner build --full-refresh` at 10 years (--rebuild-years):
              target <= 60 s (stretch 30 s); also says whether the rebuild gives the marts the nights gave.
On a scratch database loaded like `make demo` (`eod --source sample` on the bundled folder, timed as info):
  4. backtest `python -m rapidtrader.jobs.backtest --start 2013-02-08 --end 2018-02-07`: target <= 15 s.
  6. size     pg_database_size after the demo and the 15 largest relations: target <= 400 MB.
For every job run (warm-up and demo included):
  5. memory   peak memory of the job's process tree (see bench/jobrun.py): target < 1 GB.
  7. where the time goes: the run's ops.job_log steps and the 10 slowest dbt nodes of its run_results.json.

A benchmark, not a test: it prints a table per section (what, target, measured, verdict) and the
breakdown. One size that fails prints its error and the others go on; the exit code is non-zero only when
nothing could be measured. --no-targets prints the figures without judging them (the harness test uses
it; the marts must still be identical). Needs a Postgres server: `make db-start`, or point --server /
RT_BENCH_DB_URL at one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.jobrun import JobRun, run_job
from bench.nightly_data import FileSet, append, sample_set, synthetic_set
from bench.server import bench_server
from rapidtrader.db import DbUrl, connect, create_scratch_database, drop_database
from tests.marts_digest import compare, digest, marts_of, rewritten, stored_tuples

SECTIONS = ("eod", "noop", "rebuild", "backtest", "size")
BACKTEST_START, BACKTEST_END = "2013-02-08", "2018-02-07"
EOD_TARGET_S, EOD_GROWTH_MAX, NOOP_TARGET_S = 15.0, 0.10, 8.0
REBUILD_TARGET_S, REBUILD_STRETCH_S, BACKTEST_TARGET_S = 60.0, 30.0, 15.0
MEMORY_TARGET_MB, SIZE_TARGET_MB = 1024.0, 400.0
LOAD_HEADER = "load avg (start -> end)"
EOD_TARGET_YEARS, GROWTH_SMALL_YEARS, GROWTH_LARGE_YEARS, REBUILD_YEARS = 10, 5, 20, 10


@dataclass
class NightlyResult:
    """Sections 1-3 for one data set (a synthetic size or the sample) on its own scratch database."""

    label: str
    years: int | None
    files: str = ""
    runs: list[JobRun] = field(default_factory=list)
    new_session: JobRun | None = None
    nothing_new: JobRun | None = None
    noop_differences: list[str] | None = None
    noop_rewritten: list[str] | None = None
    rebuild: JobRun | None = None
    rebuild_differences: list[str] | None = None
    digest_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    """Sections 4 and 6 on a database loaded like `make demo`."""

    files: str = ""
    runs: list[JobRun] = field(default_factory=list)
    demo: JobRun | None = None
    backtest: JobRun | None = None
    db_size_mb: float | None = None
    largest: list[tuple[str, float, float]] = field(default_factory=list)
    db_size_after_backtest_mb: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Options:
    """What to measure, parsed from the command line."""

    years: list[int]
    symbols: int
    sample: bool
    sample_symbols: int | None
    sections: set[str]
    rebuild_years: set[int]
    skip_report: bool
    judge: bool
    keep: bool


# ---------------------------------------------------------------------------------------------- running


def eod_args(skip_report: bool) -> list[str]:
    """The nightly job as `make eod` runs it, on the file source (no network)."""
    return ["-m", "rapidtrader.jobs.eod", "--source", "sample", *(["--skip-report"] if skip_report else [])]


def timed_digest(url: DbUrl, result: NightlyResult) -> dict[str, dict]:
    """Digest of every marts relation and the ledger; its seconds are kept to show what checking cost."""
    started = time.perf_counter()
    taken = digest(url, marts_of(url))
    result.digest_s.append(time.perf_counter() - started)
    print(f"  digest of {len(taken)} marts relations: {result.digest_s[-1]:.1f} s (not timed)", flush=True)
    return taken


def differences(before: dict[str, dict], url: DbUrl) -> list[str]:
    """tests.marts_digest.compare, plus relations that appeared or vanished (compare only sees the old)."""
    problems = compare(before, url)
    now = set(marts_of(url))
    problems += [f"{rel}: new relation" for rel in sorted(now - set(before))]
    return problems


def run_nightly(
    server: DbUrl, files: FileSet, label: str, years: int | None, opts: Options, work: Path
) -> NightlyResult:
    """Sections 1-3 for one data set. Errors are recorded, never raised: the next size must still run."""
    result = NightlyResult(label=label, years=years, files=files.describe())
    name = f"rt_bench_nightly_{label.replace(' ', '')}_{uuid.uuid4().hex[:6]}"
    print(f"\n[{label}] {files.describe()}; scratch database {name}", flush=True)
    url = create_scratch_database(server, name)
    eod = eod_args(opts.skip_report)

    def job(tag: str, what: str, args: list[str]) -> JobRun:
        previous = result.runs[-1] if result.runs else None
        run = run_job(what, args, url, work / tag, sample_dir=files.folder, previous=previous)
        result.runs.append(run)
        status = "ok" if run.ok else "FAILED"
        print(f"  {what}: {run.seconds:.1f} s, peak {run.peak_mb:,.0f} MB, {status}", flush=True)
        if not run.ok:
            result.errors.append(f"{what}: {run.error}")
        return run

    try:
        warmup = job("warmup", "load the history + full nightly job (not timed)", eod)
        if not warmup.ok:
            return result
        if "eod" in opts.sections:
            append(files)
            result.new_session = job("new_session", "nightly, one new session", eod)
        if "noop" in opts.sections:
            before = timed_digest(url, result)
            tuples = stored_tuples(url)
            result.nothing_new = job("nothing_new", "nightly, nothing new", eod)
            result.noop_differences = differences(before, url)
            result.noop_rewritten = rewritten(tuples, url)
            print(f"  marts after the second run: {'identical' if not result.noop_differences else 'CHANGED'}")
            print(f"  tables whose stored rows it rewrote: {', '.join(result.noop_rewritten) or 'none'}")
        if years is not None and years in opts.rebuild_years and "rebuild" in opts.sections:
            before = timed_digest(url, result)
            result.rebuild = job("rebuild", "full rebuild", ["-m", "rapidtrader.dbt_runner", "build", "--full-refresh"])
            result.rebuild_differences = differences(before, url)
    except Exception as exc:  # noqa: BLE001 - one size failing must not stop the others
        result.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    finally:
        if not opts.keep:
            drop_database(server, name)
    return result


def database_size(url: DbUrl, top: int = 15) -> tuple[float, list[tuple[str, float, float]]]:
    """(database MB, [(relation, total MB incl. indexes and TOAST, of which indexes MB)]) largest first."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_database_size(current_database()) / 1048576.0")
            size = float(cur.fetchone()[0])
            cur.execute(
                """
                select n.nspname || '.' || c.relname,
                       pg_total_relation_size(c.oid) / 1048576.0,
                       pg_indexes_size(c.oid) / 1048576.0
                from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'm', 'p')
                  and n.nspname not in ('pg_catalog', 'information_schema')
                  and n.nspname not like 'pg_toast%%'
                order by pg_total_relation_size(c.oid) desc
                limit %s
                """,
                (top,),
            )
            return size, [(rel, float(total), float(idx)) for rel, total, idx in cur.fetchall()]
    finally:
        conn.close()


def run_demo(server: DbUrl, files: FileSet, opts: Options, work: Path) -> DemoResult:
    """`make demo` on a scratch database (timed as info), its size, then the 5-year backtest."""
    result = DemoResult(files=files.describe())
    name = f"rt_bench_demo_{uuid.uuid4().hex[:6]}"
    print(f"\n[demo] {files.describe()}; scratch database {name}", flush=True)
    url = create_scratch_database(server, name)
    try:
        result.demo = run_job(
            "demo (load + build + report)", eod_args(False), url, work / "demo", sample_dir=files.folder
        )
        result.runs.append(result.demo)
        print(f"  demo: {result.demo.seconds:.1f} s, {'ok' if result.demo.ok else 'FAILED'}", flush=True)
        if not result.demo.ok:
            result.errors.append(f"demo: {result.demo.error}")
            return result
        result.db_size_mb, result.largest = database_size(url)
        if "backtest" in opts.sections:
            args = ["-m", "rapidtrader.jobs.backtest", "--start", BACKTEST_START, "--end", BACKTEST_END]
            result.backtest = run_job("backtest 5 y", args, url, work / "backtest", previous=result.demo)
            result.runs.append(result.backtest)
            print(f"  backtest: {result.backtest.seconds:.1f} s, {'ok' if result.backtest.ok else 'FAILED'}")
            if not result.backtest.ok:
                result.errors.append(f"backtest: {result.backtest.error}")
            result.db_size_after_backtest_mb, _ = database_size(url, top=0)
    except Exception as exc:  # noqa: BLE001 - report and go on to printing what was measured
        result.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    finally:
        if not opts.keep:
            drop_database(server, name)
    return result


# ---------------------------------------------------------------------------------------------- verdicts


def verdict(ok: bool | None, judge: bool) -> str:
    """PASS / FAIL, or `-` when there is no target, or `(not judged)` under --no-targets."""
    if ok is None:
        return "-"
    if not judge:
        return "(not judged)"
    return "PASS" if ok else "FAIL"


def seconds(run: JobRun | None) -> str:
    if run is None:
        return "not run"
    return f"{run.seconds:.1f} s" if run.ok else f"ERROR ({run.seconds:.1f} s)"


def load(run: JobRun) -> str:
    """`1.2 -> 3.4`: the 1-minute load average when the job started and ended."""
    if run.load_before is None or run.load_after is None:
        return "unknown"
    return f"{run.load_before:.1f} -> {run.load_after:.1f}"


def by_years(results: list[NightlyResult], years: int) -> NightlyResult | None:
    return next((r for r in results if r.years == years), None)


def growth(results: list[NightlyResult], pick: Callable[[NightlyResult], JobRun | None]) -> float | None:
    """How much slower the large history is than the small one (0.10 = 10% slower), when both ran."""
    small, large = by_years(results, GROWTH_SMALL_YEARS), by_years(results, GROWTH_LARGE_YEARS)
    if not small or not large:
        return None
    a, b = pick(small), pick(large)
    if not a or not b or not a.ok or not b.ok or a.seconds <= 0:
        return None
    return b.seconds / a.seconds - 1


# ---------------------------------------------------------------------------------------------- printing


def table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    line.append(indent + "  ".join("-" * w for w in widths))
    line += [indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line)


def print_eod(results: list[NightlyResult], opts: Options) -> None:
    what = "whole job without the report (--skip-report)" if opts.skip_report else "whole job incl. the report"
    print(f"\n== 1. nightly `make eod`, one new session ({what}) ==")
    rows = []
    for r in results:
        run = r.new_session
        target, ok = "-", None
        if r.years == EOD_TARGET_YEARS:
            target, ok = f"<= {EOD_TARGET_S:.0f} s", bool(run and run.ok and run.seconds <= EOD_TARGET_S)
        rows.append([r.label, target, seconds(run), verdict(ok, opts.judge) if run else "-", load(run) if run else "-"])
    g = growth(results, lambda r: r.new_session)
    if g is not None:
        rows.append(
            [
                f"{GROWTH_LARGE_YEARS} y vs {GROWTH_SMALL_YEARS} y",
                f"<= +{EOD_GROWTH_MAX:.0%}",
                f"{g:+.0%}",
                verdict(g <= EOD_GROWTH_MAX, opts.judge),
                "",
            ]
        )
    print(table(["data", "target", "measured", "verdict", LOAD_HEADER], rows))


def print_noop(results: list[NightlyResult], opts: Options) -> None:
    print("\n== 2. nightly `make eod`, nothing new (right after) ==")
    rows = []
    for r in results:
        run = r.nothing_new
        timed_ok = bool(run and run.ok and run.seconds <= NOOP_TARGET_S)
        same = r.noop_differences is not None and not r.noop_differences and not r.noop_rewritten
        marts = "not compared" if r.noop_differences is None else ("identical" if same else "CHANGED")
        if r.noop_differences is not None and not r.noop_differences and r.noop_rewritten:
            marts = f"same values, {len(r.noop_rewritten)} tables rewritten"
        rows.append(
            [
                r.label,
                f"<= {NOOP_TARGET_S:.0f} s",
                seconds(run),
                verdict(timed_ok, opts.judge) if run else "-",
                marts,
                ("PASS" if same else "FAIL") if r.noop_differences is not None else "-",
                load(run) if run else "-",
            ]
        )
    headers = ["data", "target", "measured", "verdict", "stored rows before/after", "verdict", LOAD_HEADER]
    print(table(headers, rows))
    for r in results:
        for line in (r.noop_differences or [])[:20]:
            print(f"    {r.label}: {line}")
        if r.noop_rewritten:
            print(f"    {r.label}: rows rewritten in {', '.join(r.noop_rewritten[:20])}")
    g = growth(results, lambda r: r.nothing_new)
    if g is not None:
        print(
            f"  {GROWTH_LARGE_YEARS} y vs {GROWTH_SMALL_YEARS} y: {g:+.0%} (no target; for comparison with section 1)"
        )


def print_rebuild(results: list[NightlyResult], opts: Options) -> None:
    print("\n== 3. full rebuild: `python -m rapidtrader.dbt_runner build --full-refresh` ==")
    rows = []
    for r in results:
        run = r.rebuild
        if run is None:
            continue
        target, v = "-", "-"
        if r.years == REBUILD_YEARS:
            target = f"<= {REBUILD_TARGET_S:.0f} s (stretch {REBUILD_STRETCH_S:.0f} s)"
            v = verdict(run.ok and run.seconds <= REBUILD_TARGET_S, opts.judge)
            if opts.judge and run.ok and run.seconds <= REBUILD_STRETCH_S:
                v = "PASS (stretch)"
        same = (
            "not compared"
            if r.rebuild_differences is None
            else ("identical" if not r.rebuild_differences else "DIFFERENT")
        )
        rows.append([r.label, target, seconds(run), v, same, load(run)])
    if not rows:
        print("  not run (--only / --rebuild-years)")
        return
    print(table(["data", "target", "measured", "verdict", "marts vs the nightly path (info)", LOAD_HEADER], rows))
    for r in results:
        for line in (r.rebuild_differences or [])[:20]:
            print(f"    {r.label}: {line}")


def print_backtest(demo: DemoResult | None, opts: Options) -> None:
    print(f"\n== 4. backtest {BACKTEST_START} .. {BACKTEST_END} on the bundled sample, after `make demo` ==")
    if demo is None:
        print("  not run (--no-sample / --only)")
        return
    rows = []
    if demo.demo:
        rows.append(["make demo (info: first load, full build, report)", "-", seconds(demo.demo), "-", load(demo.demo)])
    if demo.backtest:
        ok = demo.backtest.ok and demo.backtest.seconds <= BACKTEST_TARGET_S
        rows.append(
            [
                "python -m rapidtrader.jobs.backtest (5 y)",
                f"<= {BACKTEST_TARGET_S:.0f} s",
                seconds(demo.backtest),
                verdict(ok, opts.judge),
                load(demo.backtest),
            ]
        )
    print(f"  data: {demo.files}")
    print(table(["what", "target", "measured", "verdict", LOAD_HEADER], rows))


def print_memory(nightly: list[NightlyResult], demo: DemoResult | None, opts: Options) -> None:
    print("\n== 5. peak memory of every job run (process tree; Postgres server excluded) ==")
    rows = []
    groups = [(r.label, r.runs) for r in nightly] + ([("sample (demo db)", demo.runs)] if demo else [])
    for label, runs in groups:
        for run in runs:
            rows.append(
                [
                    label,
                    run.label,
                    f"{run.max_process_rss_mb:,.0f}",
                    f"{run.tree_rss_mb:,.0f}",
                    "-" if run.job_peak_rss_mb is None else f"{run.job_peak_rss_mb:,.0f}",
                    f"< {MEMORY_TARGET_MB:,.0f} MB",
                    verdict(run.peak_mb < MEMORY_TARGET_MB, opts.judge),
                ]
            )
    print(
        table(
            ["data", "job", "largest process MB", "tree sum MB (sampled)", "job's run_metrics MB", "target", "verdict"],
            rows,
        )
    )


def print_size(demo: DemoResult | None, opts: Options) -> None:
    print("\n== 6. database size after `make demo` ==")
    if demo is None or demo.db_size_mb is None:
        print("  not measured (--no-sample / --only, or the demo failed)")
        return
    print(
        table(
            ["what", "target", "measured", "verdict"],
            [
                [
                    "pg_database_size",
                    f"<= {SIZE_TARGET_MB:.0f} MB",
                    f"{demo.db_size_mb:,.0f} MB",
                    verdict(demo.db_size_mb <= SIZE_TARGET_MB, opts.judge),
                ]
            ],
        )
    )
    if demo.db_size_after_backtest_mb is not None:
        print(f"  after the backtest too: {demo.db_size_after_backtest_mb:,.0f} MB (info)")
    print("  15 largest relations (total = table + indexes + TOAST):")
    print(
        table(
            ["relation", "total MB", "of which indexes MB"],
            [[r, f"{t:,.1f}", f"{i:,.1f}"] for r, t, i in demo.largest],
            "    ",
        )
    )


def print_breakdown(run: JobRun, where: str) -> None:
    """Section 7 for one job: its job_log steps and its 10 slowest dbt nodes."""
    parse = f"{run.full_parses} full dbt parse(s)" if run.full_parses else "dbt reused its partial parse"
    print(
        f"\n  [{where}] {run.label}: {seconds(run)} wall, exit {run.exit_code}; {parse}; "
        f"load average {load(run)} on {os.cpu_count()} cores"
    )
    if run.steps:
        outer = run.steps[0].seconds if run.steps[0].job_name == "eod_run" else None
        rows = [
            [
                s.job_name,
                "-" if s.seconds is None else f"{s.seconds:.1f}",
                s.status,
                "-" if s.rows is None else f"{s.rows:,}",
                "-" if s.peak_rss_mb is None else f"{s.peak_rss_mb:,.0f}",
            ]
            for s in run.steps
        ]
        if outer is not None:
            rows.append(["(outside eod_run: process start, imports, lock)", f"{run.seconds - outer:.1f}", "", "", ""])
        headers = ["job_log step", "seconds", "status", "rows", "peak RSS MB so far (run_metrics)"]
        print(table(headers, rows, "    "))
    else:
        print("    no job_log rows (this command keeps none)")
    if run.dbt_elapsed_s is not None:
        sums = ", ".join(f"{kind} {secs:.1f}" for kind, secs in sorted(run.node_seconds_by_type.items()))
        print(
            f"    `dbt {run.dbt_command}`: {run.dbt_nodes} nodes in {run.dbt_elapsed_s:.1f} s by dbt's clock "
            f"(parse and start-up not included); node seconds summed by type (threads overlap): {sums}"
        )
    if run.slowest_nodes:
        print("    10 slowest dbt nodes:")
        print(
            table(
                ["seconds", "status", "node"],
                [[f"{n.seconds:.2f}", n.status, n.unique_id] for n in run.slowest_nodes],
                "      ",
            )
        )


def print_where_time_goes(nightly: list[NightlyResult], demo: DemoResult | None) -> None:
    print("\n== 7. where the time goes (each timed job) ==")
    for r in nightly:
        for run in (r.new_session, r.nothing_new, r.rebuild):
            if run is not None:
                print_breakdown(run, r.label)
    if demo:
        for run in (demo.demo, demo.backtest):
            if run is not None:
                print_breakdown(run, "sample")


def print_errors(nightly: list[NightlyResult], demo: DemoResult | None) -> None:
    errors = [(r.label, e) for r in nightly for e in r.errors] + ([("demo", e) for e in demo.errors] if demo else [])
    if not errors:
        return
    print("\n== errors ==")
    for label, error in errors:
        print(f"  [{label}] {error}")


# ---------------------------------------------------------------------------------------------- main


def machine() -> str:
    """One line saying where the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024.0**3
    except (ValueError, OSError):
        mem_gb = 0.0
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, Python {platform.python_version()}"


def server_version(server: DbUrl) -> str:
    conn = connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute("show server_version")
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def parse_years(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()] if text.strip() not in ("", "none") else []


def parse_options(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", default="5,10,20", help="synthetic history lengths, comma-separated ('' for none)")
    parser.add_argument("--symbols", type=int, default=503, help="synthetic stocks (SPY is added)")
    parser.add_argument(
        "--no-sample", action="store_true", help="skip the bundled sample (nightly, demo, backtest, size)"
    )
    parser.add_argument("--sample-symbols", type=int, help="cut the bundled sample to its first N stocks (quick runs)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}")
    parser.add_argument(
        "--rebuild-years", help="sizes that get a full rebuild: list or 'all' (default 10, else the largest)"
    )
    parser.add_argument("--skip-report", action="store_true", help="time the nightly job without its report step")
    parser.add_argument("--no-targets", action="store_true", help="print figures without judging them (harness test)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--server", help="maintenance URL of the server (default: RT_BENCH_DB_URL, else embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and files")
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    years = parse_years(args.years)
    if args.rebuild_years == "all":
        rebuild = set(years)
    elif args.rebuild_years:
        rebuild = set(parse_years(args.rebuild_years))
    else:
        rebuild = {REBUILD_YEARS} if REBUILD_YEARS in years else set(years[-1:])
    opts = Options(
        years=years,
        symbols=args.symbols,
        sample=not args.no_sample,
        sample_symbols=args.sample_symbols,
        sections=sections,
        rebuild_years=rebuild,
        skip_report=args.skip_report,
        judge=not args.no_targets,
        keep=args.keep,
    )
    return opts, args


def measure(server: DbUrl, opts: Options, work: Path) -> tuple[list[NightlyResult], DemoResult | None]:
    """Run every requested data set in turn; a failure while preparing one is recorded, not raised."""
    nightly: list[NightlyResult] = []
    wants_nightly = bool(opts.sections & {"eod", "noop", "rebuild"})
    sets: list[tuple[str, int | None, Callable[[Path], FileSet]]] = []
    if wants_nightly:
        sets += [(f"{y} y", y, lambda p, y=y: synthetic_set(p, opts.symbols, y)) for y in opts.years]
        if opts.sample:
            sets.append(("sample", None, lambda p: sample_set(p, opts.sample_symbols)))
    for label, years, make in sets:
        folder = work / label.replace(" ", "")
        try:
            files = make(folder / "files")
        except Exception as exc:  # noqa: BLE001 - e.g. the generator or the copy failed: go on
            nightly.append(NightlyResult(label=label, years=years, errors=[f"preparing the files: {exc}"]))
            continue
        nightly.append(run_nightly(server, files, label, years, opts, folder / "runs"))
        if not opts.keep:
            shutil.rmtree(folder / "files", ignore_errors=True)
    demo = None
    if opts.sample and opts.sections & {"backtest", "size"}:
        try:
            files = sample_set(work / "demo" / "files", opts.sample_symbols, hold_back=False)
            demo = run_demo(server, files, opts, work / "demo" / "runs")
        except Exception as exc:  # noqa: BLE001
            demo = DemoResult(errors=[f"preparing the demo: {exc}"])
    return nightly, demo


def measured_anything(nightly: list[NightlyResult], demo: DemoResult | None) -> bool:
    runs = [run for r in nightly for run in (r.new_session, r.nothing_new, r.rebuild) if run]
    if demo:
        runs += [run for run in (demo.backtest,) if run]
    return any(run.ok for run in runs) or bool(demo and demo.db_size_mb is not None)


def write_json(path: Path, nightly: list[NightlyResult], demo: DemoResult | None, header: dict) -> None:
    def job(run: JobRun | None) -> dict | None:
        return run.as_dict() if run else None

    data = {
        **header,
        "nightly": [
            {
                "label": r.label,
                "years": r.years,
                "files": r.files,
                "new_session": job(r.new_session),
                "nothing_new": job(r.nothing_new),
                "noop_differences": r.noop_differences,
                "noop_rewritten": r.noop_rewritten,
                "rebuild": job(r.rebuild),
                "rebuild_differences": r.rebuild_differences,
                "all_runs": [run.as_dict() for run in r.runs],
                "errors": r.errors,
            }
            for r in nightly
        ],
        "demo": None
        if demo is None
        else {
            "files": demo.files,
            "demo": job(demo.demo),
            "backtest": job(demo.backtest),
            "db_size_mb": demo.db_size_mb,
            "largest": demo.largest,
            "db_size_after_backtest_mb": demo.db_size_after_backtest_mb,
            "errors": demo.errors,
        },
    }
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    opts, args = parse_options(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    server = DbUrl(args.server).with_password() if args.server else bench_server()
    try:
        version = server_version(server)
    except Exception as exc:  # noqa: BLE001 - one clear sentence for any connection failure
        print(
            f"error: cannot reach Postgres at {server.host}:{server.port} ({exc}); `make db-start` or pass --server",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    header = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "server": f"PostgreSQL {version} at {server.host}:{server.port}",
        "command": " ".join(["python", *eod_args(opts.skip_report)]),
    }
    print("nightly benchmark: " + "; ".join(f"{k} {v}" for k, v in header.items()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="rt_bench_nightly_"))
    try:
        nightly, demo = measure(server, opts, work)
    finally:
        if opts.keep:
            print(f"\nkept: scratch databases and files under {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n#### results ({header['date']}; {header['machine']}; {header['server']})")
    if opts.sections & {"eod"}:
        print_eod(nightly, opts)
    if opts.sections & {"noop"}:
        print_noop(nightly, opts)
    if opts.sections & {"rebuild"}:
        print_rebuild(nightly, opts)
    if opts.sections & {"backtest"}:
        print_backtest(demo, opts)
    print_memory(nightly, demo, opts)
    if opts.sections & {"size"}:
        print_size(demo, opts)
    print_where_time_goes(nightly, demo)
    print_errors(nightly, demo)
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        write_json(args.json, nightly, demo, header)
        print(f"figures written to {args.json}")
    return 0 if measured_anything(nightly, demo) else 1


if __name__ == "__main__":
    sys.exit(main())
