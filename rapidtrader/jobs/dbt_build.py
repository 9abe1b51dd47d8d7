"""The transform step: `python -m rapidtrader.jobs.dbt_build [dbt args]` runs `dbt build` as a job.

A failing error-severity test (a risk limit, a data-quality critical tier) fails the step: dbt skips
what depends on the failed test and the step exits non-zero. Either way the step copies dbt's verdicts
from run_results.json into ops.dbt_results (the alerts, the health check and the report read them there),
and a failed step names the failed models and tests in job_log.error and in the alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rapidtrader import PROJECT_ROOT, dbt_results
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.dbt_runner import DbtSession, dbt_env, run_dbt, run_dbt_session
from rapidtrader.jobs.runner import JobStep, job_step, new_run_id, record_step, report_start_failure
from rapidtrader.settings import fail_fast


class DbtFailed(RuntimeError):
    pass


# The nightly build leaves out the tests over the whole history (tag full_history: staging views, the bar
# pipeline's step views, bars_daily, bars_quarantine, signals_daily); the batch-scoped tests check the
# night's rows and `make test-dq-full` runs everything. It also leaves out dbt's unit tests: their inputs
# are fixed rows in the YAML, so they test the SQL, not the night's data, and can only change when the
# code does (dbt's own advice is to run them in development and CI, which `make test` and
# `make test-dq-full` do). 20 of them cost 6 to 7 s of node time a night.
NIGHTLY_ARGS = ["--exclude", "tag:full_history", "--exclude-resource-type", "unit_test"]


def _record(url: DbUrl, step: JobStep, results: list[dbt_results.NodeResult]) -> None:
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            dbt_results.record(cur, step.run_id, step.job_name, results)
    finally:
        conn.close()


SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


def seed_checksums() -> dict[str, str]:
    """sha256 of every seed file: the calendar and the market ETFs change a few times a year."""
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(SEEDS.glob("*.csv"))}


def seeds_current(url: DbUrl) -> bool:
    """Every seed is loaded as its file is now (dbt would otherwise reload the 11k-row calendar each night,
    3 to 12 s)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select seed, sha256 from ops.seed_checksums")
            stored = dict(cur.fetchall())
            cur.execute(
                "select count(*) from information_schema.tables where table_schema = 'reference' "
                "and table_name = any(%s)",
                (list(seed_checksums()),),
            )
            present = cur.fetchone()[0]
    except Exception:  # noqa: BLE001 - no ops table yet: load the seeds
        return False
    finally:
        conn.close()
    return stored == seed_checksums() and present == len(seed_checksums())


def _remember_seeds(url: DbUrl) -> None:
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for seed, sha in seed_checksums().items():
                cur.execute(
                    "insert into ops.seed_checksums (seed, sha256) values (%s, %s) "
                    "on conflict (seed) do update set sha256 = excluded.sha256, loaded_at = now()",
                    (seed, sha),
                )
    finally:
        conn.close()


def _exclude(args: list[str], selector: str) -> list[str]:
    """`args` with `selector` added to its --exclude (one --exclude, several selectors)."""
    if "--exclude" not in args:
        return [*args, "--exclude", selector]
    at = args.index("--exclude") + 1
    while at < len(args) and not args[at].startswith("--"):
        at += 1
    return [*args[:at], selector, *args[at:]]


def run(
    url: DbUrl,
    run_id: str,
    extra_args: list[str] | None = None,
    job_name: str = "dbt_build",
    freshness_of: str | None = None,
    session: DbtSession | None = None,
) -> int:
    """`dbt build` as a job step. `freshness_of` (a source name) first runs `dbt source freshness` for it in
    the same dbt process (one start-up and parse, not two), recorded as its own step (_record_freshness);
    `session`, a dbt session already started (and parsing) by the caller, runs both."""
    args = ["build", *(extra_args or [])]
    skip_seeds = "--full-refresh" not in args and seeds_current(url)
    if skip_seeds:
        args = _exclude(args, "resource_type:seed")
    with job_step(url, job_name, run_id) as step:
        started = dt.datetime.now(dt.UTC)
        if freshness_of is None:
            result = run_dbt(args, url)
        else:
            result, commands = _session([freshness_args(freshness_of), args], url, session)
            result.returncode = _record_freshness(url, run_id, freshness_of, commands, result.returncode)
        step.details["args"] = args
        step.details["exit_code"] = result.returncode
        results = dbt_results.read_run_results(since=started)
        if results:
            _record(url, step, results)
            step.details["failed_nodes"] = [r.name for r in results if r.failed]
        if result.returncode != 0:
            if results:
                why = dbt_results.describe_failures(results)
            else:
                why = f"dbt stopped before writing results (parse or connection error); see {dbt_log(url)}"
            raise DbtFailed(f"`dbt {' '.join(args)}` exited {result.returncode}: {why}")
        if not skip_seeds:
            _remember_seeds(url)
    return 0


def _session(
    commands: list[list[str]], url: DbUrl, session: DbtSession | None
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run `commands` in one dbt session (the caller's, already parsing, or a new one); the result and what
    the session reported per command."""
    if session is not None:
        return session.run(commands), session.commands()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "session.json"
        result = run_dbt_session(commands, url, report)
        return result, json.loads(report.read_text()) if report.exists() else []


def freshness(url: DbUrl, run_id: str, source: str, session: DbtSession | None = None) -> None:
    """Only `dbt source freshness`, recorded as the source_freshness step: a night with nothing to build
    still says how old its data is."""
    result, commands = _session([freshness_args(source)], url, session)
    _record_freshness(url, run_id, source, commands, result.returncode)
    if not any(c["args"][0] == "source" for c in commands):
        raise DbtFailed(f"`dbt source freshness` did not run (exit {result.returncode}); see {dbt_log(url)}")


def dbt_log(url: DbUrl) -> Path:
    """dbt's own log of its commands (DBT_LOG_PATH as dbt_runner sets it)."""
    return Path(dbt_env(url)["DBT_LOG_PATH"]) / "dbt.log"


def freshness_args(source: str) -> list[str]:
    return ["source", "freshness", "--select", f"source:{source}"]


def _record_freshness(url: DbUrl, run_id: str, source: str, commands: list[dict], exit_code: int) -> int:
    """The source_freshness step of a dbt session, from the times the session reported; returns the
    build's exit code (2 when the session ended before the build ran: a parse error). A stale source is
    recorded (status partial, alert tiers read it) but does not stop the run: the build still publishes
    what is there."""
    by_command = {c["args"][0]: c for c in commands}
    fresh = by_command.get("source")
    if fresh is not None:
        step = JobStep("source_freshness", run_id, details={"source": source, "exit_code": fresh["exit_code"]})
        step.details["inside"] = "dbt_build (one dbt process)"
        if fresh["exit_code"] != 0:
            step.status = "partial"
        record_step(url, step, fresh["started"], fresh["finished"])
    build = by_command.get("build")
    return exit_code if build is None else build["exit_code"]


@fail_fast
def main(argv: list[str] | None = None) -> int:
    run_id = new_run_id()
    try:
        url = resolve_db_url()
    except DatabaseError as exc:
        report_start_failure("dbt_build", run_id, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return run(url, run_id, list(sys.argv[1:] if argv is None else argv))
    except (DatabaseError, DbtFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
