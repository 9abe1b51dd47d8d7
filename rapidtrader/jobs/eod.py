"""The nightly end-of-day run: ingest -> source freshness -> dbt build -> daily report.

    python -m rapidtrader.jobs.eod            # RT_DATA_SOURCE (yfinance, or fmp with RT_FMP_API_KEY)
    python -m rapidtrader.jobs.eod --demo     # the bundled sample, on the embedded Postgres by default

Every step is a job_log row under one run id. The run stops at the first failed step and exits non-zero;
an ingestion whose coverage is below 95% still builds (the loaded symbols are good) but exits 1. One run
at a time per warehouse: a second run waits RT_LOCK_WAIT_S for the first, then exits 1 naming it. When the
database cannot be reached the failure still goes to logs/error.log and the alert webhook.

A night that finds nothing changed since the last successful nightly build (the same dbt project, settings
and raw data, the warehouse as that build left it: rapidtrader.build_inputs) runs only the freshness check
and the report; `--always-build` builds anyway.
"""

from __future__ import annotations

import argparse
import sys

from ingestion.common import IngestionError
from rapidtrader import build_inputs
from rapidtrader.db import DatabaseError, DbUrl, resolve_db_url
from rapidtrader.dbt_runner import DbtSession
from rapidtrader.jobs import dbt_build, eod_ingest
from rapidtrader.jobs.breakdown import breakdown
from rapidtrader.jobs.runner import job_step, new_run_id, report_start_failure
from rapidtrader.redact import guard_std_streams, public_url, redact
from rapidtrader.run_lock import RunLocked
from rapidtrader.settings import fail_fast, get_settings

DEMO_HINT = """
Done. The warehouse is in {where}.
  Connect:   {psql}
  Try:       select symbol, count(*) as bars, max(d) as last_d from bars_daily where d >= '2018-01-01'
             group by symbol order by symbol limit 10;
             select reason, count(*) from bars_quarantine group by reason;
  Marts live in schema `marts` (search_path is set, so bare names work); raw data in raw_sample.
  `make db-stop` stops the embedded server; `make docs` builds the dbt docs site.
"""


def build(url: DbUrl, run_id: str, source: str, session: DbtSession, *, always: bool = False) -> None:
    """The night's `dbt build` (with source freshness), or only the freshness check when the last
    successful nightly build read the same code, settings and raw data and the warehouse is as it left it
    (rapidtrader.build_inputs): that build's result is what this one would write. `session` is the dbt
    process the run started before its ingest (it has parsed the project meanwhile)."""
    inputs = build_inputs.BuildInputs.now(url, dbt_build.NIGHTLY_ARGS)
    built_by = None if always else build_inputs.last_build(url, inputs)
    if built_by is None:
        dbt_build.run(url, run_id, dbt_build.NIGHTLY_ARGS, freshness_of=source, session=session)
        build_inputs.remember(url, run_id, inputs)
        return
    with job_step(url, "dbt_build", run_id) as step:
        step.details.update({"skipped": "nothing changed since the last build", "built_by_run": built_by})
        print(f"dbt build skipped: code, settings, raw data and warehouse are as run {built_by}'s build left them")
        dbt_build.freshness(url, run_id, source, session=session)


def run(
    url: DbUrl,
    *,
    source: str,
    run_id: str,
    days: int | None = None,
    skip_report: bool = False,
    always_build: bool = False,
) -> int:
    exit_code = 0
    with job_step(url, "eod_run", run_id) as whole:
        whole.details["source"] = source
        # dbt starts now and parses the project on the other core while the ingest runs (3 to 4 s a night)
        session = DbtSession(url)
        try:
            code = eod_ingest.run(url, run_id, source=source, days=days)
            if code == 2:
                raise IngestionError("ingestion failed")
            exit_code = max(exit_code, code)
            build(url, run_id, source, session, always=always_build)
        except BaseException as exc:
            # Ctrl-C or SIGTERM stops dbt at once; after a failed step it may end its parse and exit
            session.close(stop=not isinstance(exc, Exception))
            raise
        session.close()
        if not skip_report:
            from rapidtrader.jobs import eod_report

            exit_code = max(exit_code, eod_report.run(url, run_id))
        whole.status = "success" if exit_code == 0 else "partial"
    return exit_code


def _breakdown(url: DbUrl, run_id: str) -> str:
    """The run's steps and slowest dbt nodes; never the reason a run fails."""
    try:
        return breakdown(url, run_id)
    except Exception as exc:  # noqa: BLE001
        return f"(no time breakdown: {redact(str(exc))})"


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="load the bundled sample instead of a live provider")
    parser.add_argument("--source", help="override RT_DATA_SOURCE (sample, fmp, yfinance)")
    parser.add_argument("--days", type=int, help="re-load the last N days for every symbol")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument(
        "--always-build",
        action="store_true",
        help="run dbt build even when nothing changed since the last nightly build",
    )
    args = parser.parse_args(argv)
    s = get_settings()
    source = "sample" if args.demo else (args.source or s.data_source)
    run_id = new_run_id()
    guard_std_streams()
    try:
        url = resolve_db_url(s)
    except DatabaseError as exc:
        report_start_failure("eod_run", run_id, exc)
        print(f"error: EOD run {run_id} did not start: {redact(str(exc))}", file=sys.stderr)
        return 1
    try:
        code = run(
            url,
            source=source,
            run_id=run_id,
            days=args.days,
            skip_report=args.skip_report,
            always_build=args.always_build,
        )
    except RunLocked as exc:
        print(f"error: EOD run {run_id} did not start: {exc}", file=sys.stderr)
        return 1
    except (IngestionError, DatabaseError, dbt_build.DbtFailed) as exc:
        print(_breakdown(url, run_id))
        print(f"error: EOD run {run_id} failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(_breakdown(url, run_id))
    if args.demo:
        where = "the embedded Postgres" if not s.db_url else "RT_DB_URL"
        print(DEMO_HINT.format(where=where, psql="make psql   (or: psql " + public_url(url.url) + ")"))
    print(f"EOD run {run_id} finished with exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
