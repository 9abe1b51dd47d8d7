"""Ingestion CLI: load one source into its raw schema.

    python -m ingestion.pipeline --source sample|fmp|yfinance [--days N | --start D [--end D]] [--symbols A,B]

Exit codes: 0 loaded (coverage >= RT_MIN_COVERAGE, default 95%), 1 coverage below that (the rows that did
load are kept), 2 a fatal error (no API key, provider unreachable, bad input folder, no database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, field

from ingestion.common import (
    FetchReport,
    IngestionError,
    last_completed_session,
    last_loaded_dates,
    plan_windows,
    run_pipeline,
)
from rapidtrader.settings import Settings, get_settings

SOURCES = ("sample", "fmp", "yfinance")


@dataclass
class IngestResult:
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    report: FetchReport | None = None

    @property
    def bar_rows(self) -> int:
        return int(self.rows.get("bars", 0))


def _parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def universe_symbols(credentials: str) -> list[str]:
    """The universe to fetch for yfinance: FMP's constituents when loaded, else the bundled list, else the
    symbols mart (a previous build)."""
    import psycopg2

    conn = psycopg2.connect(credentials)
    try:
        with conn.cursor() as cur:
            for table in ("raw_fmp.constituents", "raw_sample.constituents", "marts.symbols"):
                cur.execute("select to_regclass(%s)", (table,))
                if cur.fetchone()[0] is None:
                    continue
                cur.execute(f"select distinct symbol from {table} order by 1")  # noqa: S608
                rows = [r[0] for r in cur.fetchall()]
                if rows:
                    return rows
    finally:
        conn.close()
    return []


def ingest(
    source: str,
    *,
    credentials: str,
    settings: Settings | None = None,
    days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    symbols: list[str] | None = None,
) -> IngestResult:
    """Load `source` into raw_<source>. Raises IngestionError on fatal problems."""
    s = settings or get_settings()
    dataset = f"raw_{source}"
    report = FetchReport(source=source)
    last = last_loaded_dates(credentials, dataset)
    if source == "sample":
        end_date = end or dt.date.max
        history_start = dt.date.min
    else:
        end_date = min(end or dt.date.max, last_completed_session())
        history_start = _parse_date(s.history_start)

    def windows_fn(syms: list[str]):
        return plan_windows(
            syms,
            last,
            end=end_date,
            history_start=history_start,
            reread_days=s.reread_days,
            days=days,
            start=start,
        )

    if source == "sample":
        from ingestion.sample import sample_source

        src = sample_source(folder=s.sample_dir, windows_fn=windows_fn, report=report, symbols=symbols)
    elif source == "fmp":
        from ingestion.fmp import fmp_source

        src = fmp_source(symbols, windows_fn, report, api_key=s.fmp_api_key)
    elif source == "yfinance":
        from ingestion.yfinance import yfinance_source

        universe = symbols or universe_symbols(credentials)
        if not universe:
            raise IngestionError(
                "no universe to fetch: load the constituents first (`python scripts/seed_sp500.py`) or pass --symbols"
            )
        src = yfinance_source(universe, windows_fn, report)
    else:
        raise IngestionError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    rows = run_pipeline(src, credentials=credentials, dataset_name=dataset, pipeline_name=f"rt_{source}")
    return IngestResult(source=source, rows=rows, report=report)


def summarize(result: IngestResult, min_coverage: float) -> tuple[int, str]:
    """Exit code and a human summary; failures are listed at the end, as the runbook asks."""
    report = result.report
    lines = [f"{result.source}: loaded {result.rows or {}}"]
    code = 0
    if report is not None:
        lines.append(
            f"coverage {report.coverage:.1%} of {len(set(report.requested))} symbols ({len(report.failures)} failed)"
        )
        for symbol, error in sorted(report.failures.items()):
            lines.append(f"  FAILED {symbol}: {error}")
        if report.coverage < min_coverage:
            lines.append(f"coverage below {min_coverage:.0%}: exiting non-zero (loaded rows are kept)")
            code = 1
    return code, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=SOURCES, default=None, help="default: RT_DATA_SOURCE")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--days", type=int, help="re-load the last N calendar days for every symbol")
    window.add_argument("--start", type=_parse_date, help="first date to (re)load, YYYY-MM-DD")
    parser.add_argument("--end", type=_parse_date, help="last date to load, YYYY-MM-DD")
    parser.add_argument("--symbols", help="comma-separated symbols (default: the whole universe)")
    args = parser.parse_args(argv)

    from rapidtrader.db import DatabaseError, resolve_db_url

    s = get_settings()
    source = args.source or s.data_source
    symbols = [x.strip().upper() for x in args.symbols.split(",")] if args.symbols else None
    try:
        url = resolve_db_url(s).with_password()
        result = ingest(
            source,
            credentials=url.url,
            settings=s,
            days=args.days,
            start=args.start,
            end=args.end,
            symbols=symbols,
        )
    except (IngestionError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    code, text = summarize(result, s.min_coverage)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
