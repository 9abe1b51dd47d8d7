"""The daily report: `python -m rapidtrader.jobs.eod_report [--email] [--date YYYY-MM-DD] [--run-id ID]`.

Writes `eod_report_<session>.html` (self-contained: charts are PNGs inside the page) and
`eod_report_<session>.md` into RT_REPORT_DIR (default `<repo>/reports`) for the newest session in
bars_daily (or --date). With --email (or RT_REPORT_EMAIL=1), sends it over SMTP (RT_SMTP_* settings, see
rapidtrader.notify).
The nightly run calls `run(url, run_id)` after dbt build. Exit 0 written (and sent), 1 on failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from rapidtrader import logs
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.jobs.runner import job_step, new_run_id, report_start_failure
from rapidtrader.notify import NotifyError, send_report
from rapidtrader.redact import redact
from rapidtrader.report.build import build_report
from rapidtrader.report.render import to_html, to_markdown
from rapidtrader.settings import fail_fast, get_settings


def report_dir() -> Path:
    return get_settings().report_dir


def write_report(url: DbUrl, run_id: str | None, session: dt.date | None = None) -> tuple[Path, Path, str]:
    """Build and write both files; returns (html path, md path, subject)."""
    conn = connect(url)
    conn.autocommit = True
    try:
        report = build_report(conn, session=session, run_id=run_id)
    finally:
        conn.close()
    out = report_dir()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"eod_report_{report.session or 'no-session'}"
    html_path, md_path = out / f"{stem}.html", out / f"{stem}.md"
    html_path.write_text(to_html(report), encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    missing = sum(1 for s in report.sections if not s.available)
    subject = f"RapidTrader EOD {report.session or ''}" + (f" ({missing} sections not available)" if missing else "")
    return html_path, md_path, subject


def run(
    url: DbUrl,
    run_id: str,
    *,
    session: dt.date | None = None,
    email: bool | None = None,
    report_run_id: str | None = None,
) -> int:
    """One recorded report step (the orchestrator's call); a failure returns 1 and leaves the run partial.

    `email` None means RT_REPORT_EMAIL=1 decides, so the nightly run can mail without a code change.
    """
    if email is None:
        email = get_settings().report_email
    try:
        with job_step(url, "eod_report", run_id) as step:
            html_path, md_path, subject = write_report(url, report_run_id or run_id, session)
            step.details.update({"html": str(html_path), "markdown": str(md_path)})
            step.rows = 1
            print(f"report written: {html_path}\n                {md_path}")
            if email:
                sent = send_report(subject, md_path.read_text(), html_path.read_text(), html_path.name)
                step.details["email"] = sent
                logs.get_logger("jobs").info(sent)
                print(sent)
    except NotifyError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the nightly run continues; job_log has the failure
        print(
            f"error: the report failed ({type(exc).__name__}: {redact(str(exc))}); see logs/error.log", file=sys.stderr
        )
        return 1
    return 0


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--email", action="store_true", help="send the report over SMTP (RT_SMTP_* settings)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="session to report (default: newest)")
    parser.add_argument("--run-id", help="whose job timings to show (default: the newest run)")
    args = parser.parse_args(argv)
    run_id = new_run_id()
    try:
        url = resolve_db_url()
    except DatabaseError as exc:
        report_start_failure("eod_report", run_id, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Standalone, the timings shown are those of the last run that did work, not of this report-only run.
    report_run_id = args.run_id
    if report_run_id is None:
        conn = connect(url)
        with conn.cursor() as cur:
            cur.execute("select run_id from ops.job_log where job_name <> 'eod_report' order by id desc limit 1")
            row = cur.fetchone()
        conn.close()
        report_run_id = row[0] if row else None
    return run(url, run_id, session=args.date, email=args.email, report_run_id=report_run_id)


if __name__ == "__main__":
    sys.exit(main())
