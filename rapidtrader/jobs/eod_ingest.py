"""The ingestion step of the nightly run: `python -m rapidtrader.jobs.eod_ingest [--days 365]`.

Loads RT_DATA_SOURCE (yfinance by default, fmp when RT_FMP_API_KEY is set, sample for the bundled
data) into its raw schema, records per-symbol failures in ops.ingest_failures and the step in job_log.
Exit 0 loaded, 1 coverage below RT_MIN_COVERAGE (95%), 2 fatal error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ingestion.common import IngestionError
from ingestion.pipeline import SOURCES, ingest, summarize
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.jobs.runner import job_step, new_run_id
from rapidtrader.settings import get_settings


def record_failures(url: DbUrl, run_id: str, source: str, failures: dict[str, str]) -> None:
    if not failures:
        return
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ops.ingest_failures (run_id, source, symbol, error) values (%s, %s, %s, %s)",
            [(run_id, source, symbol, error) for symbol, error in sorted(failures.items())],
        )
    conn.close()


def run(
    url: DbUrl,
    run_id: str,
    *,
    source: str,
    days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    symbols: list[str] | None = None,
) -> int:
    """One recorded ingestion step; returns the exit code."""
    s = get_settings()
    with job_step(url, f"ingest_{source}", run_id) as step:
        result = ingest(
            source,
            credentials=url.with_password().url,
            settings=s,
            days=days,
            start=start,
            end=end,
            symbols=symbols,
        )
        code, text = summarize(result, s.min_coverage)
        print(text)
        report = result.report
        step.rows = result.bar_rows
        step.details.update(
            {
                "source": source,
                "rows_by_table": result.rows,
                "coverage": report.coverage if report else None,
                "failed_symbols": sorted(report.failures) if report else [],
            }
        )
        if report:
            record_failures(url, run_id, source, report.failures)
        if code != 0:
            step.status = "partial"
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=SOURCES)
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--days", type=int)
    window.add_argument("--start", type=dt.date.fromisoformat)
    parser.add_argument("--end", type=dt.date.fromisoformat)
    parser.add_argument("--symbols")
    args = parser.parse_args(argv)
    s = get_settings()
    symbols = [x.strip().upper() for x in args.symbols.split(",")] if args.symbols else None
    try:
        url = resolve_db_url(s)
        return run(
            url,
            new_run_id(),
            source=args.source or s.data_source,
            days=args.days,
            start=args.start,
            end=args.end,
            symbols=symbols,
        )
    except (IngestionError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
