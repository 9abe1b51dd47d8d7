"""The runbook's health check: `python scripts/health_check.py [--all] [--json]`.

One line per check with OK / WARN / CRITICAL; exit 2 when any check is CRITICAL, else 0.
Checks: database reachable and responsive; connection use against max_connections; disk space of the
database, log and backup folders; last successful run of each nightly job and its age against the NYSE
calendar; completeness of the latest session; age of the latest backup. `--all` adds every job kind seen in
job_log, the verdicts of the data-quality tests, today's quarantine and the alerts of the last 24 hours.

Completeness and data quality are dbt's verdicts (dbt_project/tests/dq, as the last build recorded them in
ops.dbt_results, with the rows stored in schema dq): warn is WARN, fail or error is CRITICAL. This script
holds no data-quality threshold of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg2 import errors  # noqa: E402

from rapidtrader import dq  # noqa: E402
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url  # noqa: E402
from rapidtrader.redact import guard_std_streams  # noqa: E402
from rapidtrader.settings import fail_fast, get_settings  # noqa: E402

NIGHTLY_JOBS = ("eod_run",)
ORDER = {"OK": 0, "WARN": 1, "CRITICAL": 2}
# dbt's verdict on a data-quality test, as a health status
DQ_STATUS = {"OK": "OK", "WARN": "WARN", "FAIL": "CRITICAL", "ERROR": "CRITICAL"}


@dataclass
class Check:
    name: str
    status: str
    detail: str


def backup_dir() -> Path:
    return get_settings().backup_dir


def check_disk(label: str, path: Path) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    used = usage.used / usage.total
    free_gb = usage.free / 1e9
    s = get_settings()
    warn, crit = s.health_disk_warn, s.health_disk_critical
    status = "CRITICAL" if used > crit else "WARN" if used > warn else "OK"
    return Check(f"disk:{label}", status, f"{path}: {used:.0%} used, {free_gb:.1f} GB free")


def last_session_close(now: dt.datetime | None = None) -> tuple[dt.date, dt.datetime]:
    """The newest NYSE session that has closed, and its close time (UTC)."""
    import exchange_calendars as xcals
    import pandas as pd

    cal = xcals.get_calendar("XNYS")
    now_ts = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    start = (now_ts - pd.Timedelta(days=14)).normalize().tz_localize(None)
    end = now_ts.normalize().tz_localize(None)
    sessions = cal.sessions_in_range(start, end)
    for session in reversed(sessions):
        close = cal.session_close(session)
        if close <= now_ts:
            return session.date(), close.to_pydatetime()
    raise RuntimeError("no closed NYSE session in the last 14 days")


def check_jobs(cur, names: tuple[str, ...] | None) -> list[Check]:
    """Last success of each job against the last session close: missing one session is CRITICAL."""
    session, close = last_session_close()
    if names is None:
        cur.execute("select distinct job_name from ops.job_log order by 1")
        names = tuple(r[0] for r in cur.fetchall()) or NIGHTLY_JOBS
    out = []
    for name in names:
        cur.execute("select max(finished_at) from ops.job_log where job_name = %s and status = 'success'", (name,))
        last = cur.fetchone()[0]
        cur.execute("select status, started_at from ops.job_log where job_name = %s order by id desc limit 1", (name,))
        latest = cur.fetchone()
        if last is None:
            out.append(Check(f"job:{name}", "WARN", "never succeeded" + (f" (last: {latest[0]})" if latest else "")))
            continue
        age_h = (dt.datetime.now(dt.UTC) - last).total_seconds() / 3600
        if last >= close:
            status, note = "OK", f"ran after the {session} close"
        else:
            status, note = "CRITICAL", f"has not run since the {session} close ({close:%Y-%m-%d %H:%M} UTC)"
        if latest and latest[0] == "failed":
            status, note = "CRITICAL", note + "; the latest attempt failed"
        out.append(Check(f"job:{name}", status, f"last success {last:%Y-%m-%d %H:%M} UTC ({age_h:.1f} h ago), {note}"))
    return out


def check_completeness(cur) -> list[Check]:
    """dbt's last verdict on the session's coverage, and whether that session is the last NYSE close."""
    coverage = dq.find(dq.latest(cur), dq.COVERAGE)
    if coverage.verdict is None:
        out = [Check("data:completeness", "WARN", "the coverage test has not run on this database; run `make eod`")]
    else:
        shown = ", ".join(coverage.symbols[:10]) + (" ..." if len(coverage.symbols) > 10 else "")
        when = coverage.verdict.generated_at
        out = [
            Check(
                "data:completeness",
                DQ_STATUS.get(coverage.level, "WARN"),
                f"dq_symbol_coverage {coverage.status}"
                + (f" on {coverage.session}" if coverage.session else "")
                + (f" (tested {when:%Y-%m-%d %H:%M} UTC)" if when else "")
                + f": {coverage.summary()}"
                + (f"; missing {shown}" if shown else ""),
            )
        ]
    try:
        cur.execute("select max(d) from marts.bars_daily")
    except errors.UndefinedTable:
        return [*out, Check("data:freshness", "WARN", "bars_daily not built yet; run `make eod`")]
    session = cur.fetchone()[0]
    if session is None:
        return [*out, Check("data:freshness", "WARN", "bars_daily is empty; run `make eod`")]
    cur.execute("select source from marts.bars_daily where d = %s limit 1", (session,))
    source = (cur.fetchone() or ["?"])[0]
    if source == "sample":
        out.append(Check("data:freshness", "OK", f"latest session {session} (bundled sample: freshness not checked)"))
    else:
        expected, _ = last_session_close()
        status = "OK" if session >= expected else "CRITICAL"
        out.append(
            Check(
                "data:freshness", status, f"latest session in bars_daily {session}, last closed NYSE session {expected}"
            )
        )
    return out


def check_backup() -> Check:
    folder = backup_dir()
    dumps = sorted(folder.glob("*.dump"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not dumps:
        return Check("backup", "WARN", f"no backup in {folder}; run `python scripts/backup.py`")
    age_h = (time.time() - dumps[-1].stat().st_mtime) / 3600
    s = get_settings()
    warn, crit = s.health_backup_warn_h, s.health_backup_critical_h
    status = "CRITICAL" if age_h > crit else "WARN" if age_h > warn else "OK"
    return Check("backup", status, f"latest {dumps[-1].name}, {age_h:.1f} h old")


def run_checks(url: DbUrl, all_checks: bool) -> list[Check]:
    s = get_settings()
    checks: list[Check] = []
    started = time.monotonic()
    try:
        conn = connect(url)
    except DatabaseError as exc:
        return [Check("database", "CRITICAL", str(exc))]
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1")
        latency = time.monotonic() - started
        cur.execute("show server_version")
        version = cur.fetchone()[0]
        status = "OK" if latency < 1 else "WARN" if latency < 5 else "CRITICAL"
        checks.append(
            Check(
                "database",
                status,
                f"PostgreSQL {version} at {url.host}:{url.port}/{url.dbname}, connect+query {latency * 1000:.0f} ms",
            )
        )
        cur.execute("select count(*), current_setting('max_connections')::int from pg_stat_activity")
        used, max_conn = cur.fetchone()
        ratio = used / max_conn
        status = "CRITICAL" if ratio > 0.95 else "WARN" if ratio > 0.8 else "OK"
        checks.append(Check("connections", status, f"{used} of {max_conn} connections in use ({ratio:.0%})"))
        cur.execute("select pg_database_size(current_database())")
        db_size = cur.fetchone()[0]
        if not s.db_url:
            checks.append(check_disk("database", s.pgdata))
        checks.append(Check("database:size", "OK", f"{db_size / 1e9:.2f} GB"))
        checks.append(check_disk("logs", s.log_dir))
        checks.append(check_disk("backups", backup_dir()))
        checks += check_jobs(cur, None if all_checks else NIGHTLY_JOBS)
        checks += check_completeness(cur)
        checks.append(check_backup())
        if all_checks:
            checks += extra_checks(cur)
    conn.close()
    return checks


def extra_checks(cur) -> list[Check]:
    out = []
    results = [r for r in dq.latest(cur) if r.verdict is not None]
    flagged = [f"{r.check.test} {r.level} ({len(r.rows)} rows)" for r in results if r.level != "OK"]
    worst = max((ORDER[DQ_STATUS.get(r.level, "WARN")] for r in results), default=0)
    out.append(
        Check(
            "dq:tests",
            [k for k, v in ORDER.items() if v == worst][0],
            ", ".join(flagged) or (f"all {len(results)} data-quality tests pass" if results else "not run yet"),
        )
    )
    cur.execute("select to_regclass('marts.bars_quarantine') is not null")
    if cur.fetchone()[0]:
        cur.execute(
            "select count(*), string_agg(distinct reason, ', ') from marts.bars_quarantine "
            "where d = (select max(d) from marts.bars_daily)"
        )
        n, reasons = cur.fetchone()
        out.append(
            Check(
                "dq:quarantine",
                "WARN" if n else "OK",
                f"{n} bars quarantined on the latest session {reasons or ''}".strip(),
            )
        )
    cur.execute("select tier, count(*) from ops.alerts where raised_at >= now() - interval '24 hours' group by tier")
    tiers = dict(cur.fetchall())
    status = "CRITICAL" if tiers.get("critical") else "WARN" if tiers.get("warning") else "OK"
    out.append(Check("alerts:24h", status, ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())) or "none"))
    return out


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="also every job kind, dq failures, quarantine, alerts")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    guard_std_streams()
    try:
        url = resolve_db_url()
        checks = run_checks(url, args.all)
    except DatabaseError as exc:
        checks = [Check("database", "CRITICAL", str(exc))]
    worst = max((ORDER[c.status] for c in checks), default=0)
    overall = [k for k, v in ORDER.items() if v == worst][0]
    if args.json:
        print(json.dumps({"status": overall, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            print(f"{c.status:<8} {c.name:<22} {' '.join(c.detail.split())}")
        print(f"overall: {overall}")
    return 2 if worst == 2 else 0


if __name__ == "__main__":
    sys.exit(main())
