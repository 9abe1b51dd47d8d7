"""The nightly end-of-day run: ingest -> source freshness -> dbt build -> daily report.

    python -m rapidtrader.jobs.eod            # RT_DATA_SOURCE (yfinance, or fmp with RT_FMP_API_KEY)
    python -m rapidtrader.jobs.eod --demo     # the bundled sample, on the embedded Postgres by default

Every step is a job_log row under one run id. The run stops at the first failed step and exits non-zero;
an ingestion whose coverage is below 95% still builds (the loaded symbols are good) but exits 1.
"""

from __future__ import annotations

import argparse
import sys

from ingestion.common import IngestionError
from rapidtrader.db import DatabaseError, DbUrl, resolve_db_url
from rapidtrader.jobs import dbt_build, eod_ingest
from rapidtrader.jobs.runner import job_step, new_run_id
from rapidtrader.settings import get_settings

DEMO_HINT = """
Done. The warehouse is in {where}.
  Connect:   {psql}
  Try:       select symbol, count(*) as bars, max(d) as last_d from bars_daily where d >= '2018-01-01'
             group by symbol order by symbol limit 10;
             select reason, count(*) from bars_quarantine group by reason;
  Marts live in schema `marts` (search_path is set, so bare names work); raw data in raw_sample.
  `make db-stop` stops the embedded server; `make docs` builds the dbt docs site.
"""


def run(url: DbUrl, *, source: str, run_id: str, days: int | None = None, skip_report: bool = False) -> int:
    exit_code = 0
    with job_step(url, "eod_run", run_id) as whole:
        whole.details["source"] = source
        code = eod_ingest.run(url, run_id, source=source, days=days)
        if code == 2:
            raise IngestionError("ingestion failed")
        exit_code = max(exit_code, code)
        dbt_build.check_freshness(url, run_id, source)
        dbt_build.run(url, run_id)
        if not skip_report:
            from rapidtrader.jobs import eod_report

            exit_code = max(exit_code, eod_report.run(url, run_id))
        whole.status = "success" if exit_code == 0 else "partial"
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="load the bundled sample instead of a live provider")
    parser.add_argument("--source", help="override RT_DATA_SOURCE (sample, fmp, yfinance)")
    parser.add_argument("--days", type=int, help="re-load the last N days for every symbol")
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args(argv)
    s = get_settings()
    source = "sample" if args.demo else (args.source or s.data_source)
    run_id = new_run_id()
    try:
        url = resolve_db_url(s)
        code = run(url, source=source, run_id=run_id, days=args.days, skip_report=args.skip_report)
    except (IngestionError, DatabaseError, dbt_build.DbtFailed) as exc:
        print(f"error: EOD run {run_id} failed: {exc}", file=sys.stderr)
        return 1
    if args.demo:
        where = "the embedded Postgres" if not s.db_url else "RT_DB_URL"
        print(DEMO_HINT.format(where=where, psql="make psql   (or: psql " + url.url + ")"))
    print(f"EOD run {run_id} finished with exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
