"""Every command-line entry point fails fast on a bad setting with one line; a run that finds the database
down still logs and alerts; cleaning a log folder that does not exist yet is not an error."""

from __future__ import annotations

import subprocess

import pytest

from rapidtrader.db import DbUrl
from tests.ops.conftest import REPO, child_env, python

ENTRY_POINTS = [
    ["-m", "rapidtrader.jobs.eod"],
    ["-m", "rapidtrader.jobs.dbt_build"],
    ["-m", "rapidtrader.jobs.eod_report"],
    ["-m", "rapidtrader.jobs.sweep", "--param", "RT_RSI_BUY=25,30", "--start", "2016-01-04"],
    ["scripts/run_eod_workflow.py"],
    ["scripts/health_check.py"],
    ["scripts/validate_data.py"],
    ["scripts/validate_indicators.py"],
    ["scripts/test_apis.py"],
    ["scripts/cleanup_logs.py", "--days", "30"],
    ["scripts/db_maintenance.py"],
    ["scripts/backup.py"],
    ["scripts/restore.py", "--latest"],
    ["scripts/generate_trading_calendar.py", "--out", "/dev/null"],
]
NO_DATABASE = DbUrl("postgresql://postgres:x@127.0.0.1:9/none")


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e[-1] if e[0] == "-m" else e[0])
def test_a_bad_setting_is_one_line_and_exit_2(entry):
    out = subprocess.run(
        [python(), *entry],
        cwd=REPO,
        env=child_env(NO_DATABASE, RT_MIN_COVERAGE="abc"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "RT_MIN_COVERAGE" in lines[0] and "[0, 1]" in lines[0], out.stderr
    assert out.stdout == ""


def test_database_down_at_start_is_logged_and_alerted(http_stub, tmp_path):
    """The runbook promises logs/error.log and the webhook always, database or not."""
    logs = tmp_path / "logs"
    out = subprocess.run(
        [python(), "-m", "rapidtrader.jobs.eod", "--source", "sample"],
        cwd=REPO,
        env=child_env(
            NO_DATABASE, RT_LOG_DIR=str(logs), RT_ALERT_WEBHOOK_URL=http_stub.base + "/hook", RT_RUN_ID="down-1"
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 1
    error_log = (logs / "error.log").read_text() if (logs / "error.log").exists() else ""
    assert "code=database_down" in error_log and "run=down-1" in error_log and "127.0.0.1:9" in error_log
    posted = [m["json"] for m in http_stub.received if "json" in m]
    assert [(p["tier"], p["code"], p["run_id"]) for p in posted] == [("critical", "database_down", "down-1")]
    assert "did not start" in out.stderr and "RT_DB_URL" in out.stderr
    assert "postgres:x@" not in error_log + out.stderr  # the URL's password is never shown


def test_cleanup_logs_without_a_log_folder_says_nothing_to_clean(tmp_path):
    missing = tmp_path / "never-created"
    out = subprocess.run(
        [python(), "scripts/cleanup_logs.py", "--days", "30"],
        cwd=REPO,
        env=child_env(NO_DATABASE, RT_LOG_DIR=str(missing)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "nothing to clean" in out.stdout and not missing.exists()
