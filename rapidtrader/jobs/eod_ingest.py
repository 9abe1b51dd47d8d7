"""Load a source into its raw schema: the ingestion step of the nightly run, and the one command line for loads.

    python -m rapidtrader.jobs.eod_ingest [--source sample|fmp|yfinance]
                                          [--days N | --start YYYY-MM-DD [--end YYYY-MM-DD]] [--symbols A,B]

Loads RT_DATA_SOURCE (yfinance by default, fmp when RT_FMP_API_KEY is set, sample for files) into its raw
schema, records per-symbol failures in ops.ingest_failures and the step in job_log. Without --days/--start
each symbol re-reads RT_REREAD_DAYS before its last clean bar (a new symbol: its history from
RT_HISTORY_START); --days N re-loads the last N days (for files: of the files' newest date).
Exit 0 loaded, 1 coverage below RT_MIN_COVERAGE (95%), 2 fatal error (one line saying what to fix).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ingestion.common import IngestionError, exchange_today, newest_days
from ingestion.config import FmpSettings, IngestConfig, YahooSettings
from ingestion.pipeline import SOURCES, IngestResult, ingest, summarize
from ingestion.symbols import normalize, shown, symbol_problem
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.jobs.runner import job_step, new_run_id, report_start_failure
from rapidtrader.redact import redact
from rapidtrader.settings import Settings, fail_fast, get_settings


def ingest_config(s: Settings) -> IngestConfig:
    """The ingestion package reads no environment: its settings are built here, from RT_* settings."""
    return IngestConfig(
        sample_dir=s.sample_dir,
        history_start=dt.date.fromisoformat(s.history_start),
        reread_days=s.reread_days,
        progress=s.progress,
        fmp_api_key=s.fmp_api_key,
        fmp=FmpSettings(
            base_url=s.fmp_base_url,
            max_calls_per_min=s.fmp_max_calls_per_min,
            timeout_s=s.fmp_timeout,
            max_attempts=s.fmp_max_attempts,
            backoff_factor=s.fmp_backoff,
            max_retry_delay_s=s.fmp_max_retry_delay,
            chunk_days=s.fmp_chunk_days,
            fetch_adjusted=s.fmp_adjusted,
        ),
        yahoo=YahooSettings(
            batch_size=s.yf_batch_size,
            sleep_s=s.yf_sleep,
            max_attempts=s.yf_max_attempts,
            backoff_s=s.yf_backoff,
            threads=s.yf_threads,
            timeout_s=s.yf_timeout,
        ),
    )


def last_clean_dates(url: DbUrl, source: str) -> dict[str, dt.date]:
    """The newest clean raw bar per symbol of `source`: where its load window starts.

    A raw bar counts unless the last build quarantined it (a bar of a symbol outside the universe is a
    clean bar, only not traded), and a bar dated after today never counts. So a quarantined row (a
    2099-12-31 print, a conflicting duplicate, a bad volume) cannot move the window past real data.
    Index probes per symbol (ingestion.common.newest_days), not a scan of the history."""
    schema = f"raw_{source}"
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass(%s), to_regclass('marts.bars_quarantine')", (f"{schema}.bars",))
            raw, quarantine = cur.fetchone()
            if raw is None:
                return {}
            checked = (
                """
                and not exists (
                    select 1 from marts.bars_quarantine as q
                    where q.source = %(source)s and q.symbol = r.symbol and q.d = r.d and q.dup_seq = r.dup_seq
                        and q.reasons <> 'symbol_not_in_universe'
                )
                """
                if quarantine is not None
                else ""
            )
            return newest_days(cur, schema, exchange_today(), checked, {"source": source})
    finally:
        conn.close()


def load(
    url: DbUrl,
    source: str,
    settings: Settings | None = None,
    *,
    days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    symbols: list[str] | None = None,
) -> IngestResult:
    """One load with the project's settings, windows from the last clean bars (no job bookkeeping)."""
    s = settings or get_settings()
    return ingest(
        source,
        credentials=url.with_password().url,
        config=ingest_config(s),
        days=days,
        start=start,
        end=end,
        symbols=symbols,
        last_clean=last_clean_dates(url, source),
    )


def record_failures(url: DbUrl, run_id: str, source: str, failures: dict[str, str]) -> None:
    if not failures:
        return
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ops.ingest_failures (run_id, source, symbol, error) values (%s, %s, %s, %s)",
            [(run_id, source, symbol, redact(error)) for symbol, error in sorted(failures.items())],
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
        result = load(url, source, s, days=days, start=start, end=end, symbols=symbols)
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
                "rejected_rows": sum(report.rejected.values()) if report else 0,
            }
        )
        if report:
            record_failures(url, run_id, source, report.failures)
        if code != 0:
            step.status = "partial"
    return code


def _days(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parse_symbols(text: str | None) -> list[str] | None:
    """--symbols A,B: every one must be a ticker (the rule ingestion applies at the door)."""
    if not text:
        return None
    symbols = [normalize(x) for x in text.split(",") if x.strip()]
    for symbol in symbols:
        problem = symbol_problem(symbol)
        if problem:
            raise IngestionError(f"--symbols: {shown(symbol)!r} is not a ticker: {problem[1]}")
    return symbols


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=SOURCES, help="default: RT_DATA_SOURCE")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--days", type=_days, help="re-load the last N calendar days for every symbol")
    window.add_argument("--start", type=dt.date.fromisoformat, help="first date to (re)load, YYYY-MM-DD")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last date to load, YYYY-MM-DD")
    parser.add_argument("--symbols", help="comma-separated symbols (default: the whole universe)")
    args = parser.parse_args(argv)
    s = get_settings()
    run_id = new_run_id()
    try:
        symbols = parse_symbols(args.symbols)
        url = resolve_db_url(s)
    except DatabaseError as exc:
        report_start_failure(f"ingest_{args.source or s.data_source}", run_id, exc)
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except IngestionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run(
            url,
            run_id,
            source=args.source or s.data_source,
            days=args.days,
            start=args.start,
            end=args.end,
            symbols=symbols,
        )
    except (IngestionError, DatabaseError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
