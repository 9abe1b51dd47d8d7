"""Log files, rotation and retention; alert tiers from synthetic run facts; alert delivery to table, log and
webhook; per-step run metrics with traced provider calls."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys

import pytest
import requests

from rapidtrader import alerts, logs
from rapidtrader.jobs.runner import job_step
from tests.ops.conftest import REPO, sql_rows


@pytest.fixture()
def log_dir(tmp_path):
    folder = tmp_path / "logs"
    logs.setup_logging(folder, force=True)
    yield folder
    logs.setup_logging(force=True)  # back to the session's RT_LOG_DIR


def test_one_line_per_event_in_the_right_files(log_dir):
    with logs.log_context(job="eod_ingest", run_id="run123"):
        logs.get_logger("jobs").info("started\nwith a second line")
        logs.log_api_call("fmp", "GET", "https://x/stable/quote", 200, 0.25)
        logs.get_logger("database").info("backup done")
        logs.get_logger("app").error("boom")
    app = (log_dir / "app.log").read_text().splitlines()
    assert len(app) == 4
    assert all(" job=eod_ingest run=run123 " in line for line in app)
    assert app[0].split()[1] == "INFO" and dt.datetime.strptime(app[0].split()[0], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert "started\\nwith a second line" in app[0]
    assert "latency_ms=250" in (log_dir / "api.log").read_text()
    assert "backup done" in (log_dir / "database.log").read_text()
    assert "boom" in (log_dir / "error.log").read_text() and "started" not in (log_dir / "error.log").read_text()
    assert len((log_dir / "jobs.log").read_text().splitlines()) == 1


def _fake(folder, name, days_ago, today):
    path = folder / f"{name}.{(today - dt.timedelta(days=days_ago)).isoformat()}"
    path.write_text(f"old {days_ago}\n")
    return path


def test_retention_compresses_after_7_and_deletes_after_30(tmp_path):
    today = dt.date.today()
    recent = _fake(tmp_path, "app.log", 3, today)
    week = _fake(tmp_path, "jobs.log", 10, today)
    old = _fake(tmp_path, "api.log", 40, today)
    old_gz = tmp_path / f"error.log.{(today - dt.timedelta(days=45)).isoformat()}.gz"
    old_gz.write_bytes(gzip.compress(b"x"))
    live = tmp_path / "app.log"
    live.write_text("live\n")
    result = logs.enforce_retention(tmp_path, keep_days=30, compress_days=7)
    assert recent.exists() and live.exists()
    assert not week.exists() and gzip.decompress((tmp_path / (week.name + ".gz")).read_bytes()) == b"old 10\n"
    assert not old.exists() and not old_gz.exists()
    assert len(result.compressed) == 1 and len(result.deleted) == 2


def test_cleanup_logs_script(tmp_path):
    today = dt.date.today()
    _fake(tmp_path, "app.log", 12, today)
    _fake(tmp_path, "app.log", 31, today)
    cmd = [sys.executable, "scripts/cleanup_logs.py", "--days", "30", "--log-dir", str(tmp_path)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 compressed, 1 deleted" in out.stdout
    assert sorted(p.name.endswith(".gz") for p in tmp_path.iterdir()) == [True]


def test_midnight_rotation_rotates_and_applies_retention(tmp_path):
    today = dt.date.today()
    week = _fake(tmp_path, "app.log", 9, today)
    handler = logs.RotatingLogFile(tmp_path / "app.log")
    handler.emit(logs.logging.LogRecord("rapidtrader", 20, __file__, 1, "before", None, None))
    handler.doRollover()
    handler.close()
    rotated = [p.name for p in tmp_path.iterdir() if p.name.startswith("app.log.") and not p.name.endswith(".gz")]
    assert rotated, list(tmp_path.iterdir())
    assert not week.exists() and (tmp_path / (week.name + ".gz")).exists()


def test_unwritable_log_folder_falls_back_to_stderr(tmp_path, capsys):
    logs.setup_logging("/dev/null/logs", force=True)  # cannot be created, even by root
    try:
        logs.get_logger("jobs").warning("still heard")
        assert logs.write_errors() and "RT_LOG_DIR" in logs.write_errors()[0]
        assert "still heard" in capsys.readouterr().err
    finally:
        logs.setup_logging(force=True)


# ---------------------------------------------------------------------------------------------------
# Alert thresholds, tier by tier.

T = alerts.Thresholds(runtime_warn_min=30, runtime_critical_min=45, memory_mb=1536, api_latency_s=10)


def tiers(**facts) -> set[tuple[str, str]]:
    return {(a.tier, a.code) for a in alerts.evaluate(alerts.RunFacts(run_id="r", **facts), T)}


def test_quiet_run_raises_nothing():
    assert tiers(duration_s=600, completeness=0.999, peak_rss_mb=900) == set()


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"failed_jobs": [("eod_run", "x"), ("dbt_build", "exit 1")]}, ("critical", "job_failed")),
        ({"partial_jobs": ["ingest_fmp"]}, ("warning", "job_partial")),
        ({"duration_s": 31 * 60}, ("warning", "runtime")),
        ({"duration_s": 46 * 60}, ("critical", "runtime")),
        # Coverage tiers are dbt's (dq_symbol_coverage, tested in test_dq_rules.py); the alert follows its verdict.
        ({"coverage_status": "warn", "completeness": 0.985}, ("warning", "completeness")),
        ({"coverage_status": "fail", "completeness": 0.975}, ("critical", "completeness")),
        ({"peak_rss_mb": 1600}, ("warning", "memory")),
        ({"slow_calls": [("fmp", "/quote", 12.0)]}, ("warning", "api_latency")),
        ({"rate_limited": [("yahoo", "/chart")]}, ("warning", "rate_limited")),
        ({"risk_failures": ["assert_sector_cap"]}, ("critical", "risk_violation")),
        ({"dq_errors": ["expect_coverage"]}, ("critical", "data_quality")),
        ({"dq_warnings": ["expect_volume"]}, ("warning", "data_quality")),
        ({"log_errors": ["cannot write app.log: [Errno 28]"]}, ("critical", "log_write_failed")),
        ({"universe_added": ["NEW"], "universe_removed": ["OLD"]}, ("info", "universe_change")),
    ],
)
def test_each_threshold_raises_its_tier(facts, expected):
    assert tiers(**facts) == {expected}


def test_boundaries_are_exclusive():
    assert tiers(duration_s=30 * 60, coverage_status="pass", completeness=0.99, peak_rss_mb=1536) == set()


def test_failed_job_alert_names_the_inner_job():
    out = alerts.evaluate(alerts.RunFacts(run_id="r", failed_jobs=[("eod_run", "a"), ("dbt_build", "exit 2")]), T)
    assert "dbt_build" in out[0].message and "exit 2" in out[0].message


# ---------------------------------------------------------------------------------------------------
# Delivery and wiring into job_step.


def test_alert_goes_to_table_error_log_and_webhook(ops_db, http_stub, monkeypatch):
    url = ops_db("alerts")
    monkeypatch.setenv("RT_ALERT_WEBHOOK_URL", http_stub.base + "/hook")
    alerts.emit(url, [alerts.Alert("critical", "job_failed", "dbt_build failed", {"x": 1})], "run-a")
    assert sql_rows(url, "select tier, code, webhook_status from alerts where run_id = 'run-a'") == [
        ("critical", "job_failed", "200")
    ]
    posted = http_stub.received[0]["json"]
    assert posted["tier"] == "critical" and posted["text"].startswith("[CRITICAL]") and posted["run_id"] == "run-a"
    error_log = logs.current_log_dir() / "error.log"
    assert "ALERT tier=critical code=job_failed" in error_log.read_text()


def test_webhook_down_still_stores_the_alert(ops_db, monkeypatch):
    url = ops_db("alerts_down")
    monkeypatch.setenv("RT_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")  # discard port: refused
    alerts.emit(url, [alerts.Alert("warning", "memory", "peak 1.6 GB")], "run-b")
    (status,) = sql_rows(url, "select webhook_status from alerts where run_id = 'run-b'")[0]
    assert status.startswith("error")


def test_job_step_records_metrics_api_calls_and_alerts_on_failure(ops_db, http_stub, monkeypatch):
    url = ops_db("metrics")
    monkeypatch.setenv("RT_ALERT_WEBHOOK_URL", http_stub.base + "/hook")
    monkeypatch.setenv("RT_YAHOO_BASE_URL", http_stub.base + "/429")
    with pytest.raises(RuntimeError), job_step(url, "eod_run", "run-m") as whole:
        with job_step(url, "ingest_yfinance", "run-m") as step:
            requests.get(http_stub.base + "/200/v8/finance/chart/SPY?apikey=secret", timeout=5)
            requests.get(http_stub.base + "/429/v8/finance/chart/MSFT", timeout=5)
            step.rows = 2
        whole.details["x"] = 1
        raise RuntimeError("dbt exploded")
    metrics = sql_rows(
        url,
        "select job_name, status, api_calls, api_rate_limited, rows from run_metrics "
        "where run_id = 'run-m' order by id",
    )
    assert metrics == [("ingest_yfinance", "success", 2, 1, 2), ("eod_run", "failed", 2, 1, None)]
    calls = sql_rows(url, "select job_name, status, endpoint from api_calls where run_id = 'run-m' order by id")
    assert [c[1] for c in calls] == [200, 429] and all(c[0] == "ingest_yfinance" for c in calls)
    assert "secret" not in (logs.current_log_dir() / "api.log").read_text()
    codes = {r for r in sql_rows(url, "select tier, code from alerts where run_id = 'run-m'")}
    assert {("critical", "job_failed"), ("warning", "rate_limited")} <= codes
    assert any(m.get("json", {}) and m["json"]["code"] == "job_failed" for m in http_stub.received if "json" in m)
    line = [x for x in (logs.current_log_dir() / "jobs.log").read_text().splitlines() if "failed eod_run" in x]
    assert line and "run=run-m" in line[0] and "job=eod_run" in line[0]


# A SIGTERM at the earliest moment a watcher can see the step `running`: right after its row is committed.
_TERM_AFTER_INSERT = """
import os, signal, sys, time
from rapidtrader.db import DbUrl
from rapidtrader.jobs import runner

real_insert = runner._insert

def insert_then_terminate(url, step):
    log_id = real_insert(url, step)
    os.kill(os.getpid(), signal.SIGTERM)
    return log_id

runner._insert = insert_then_terminate
with runner.job_step(DbUrl(sys.argv[1]), "eod_ingest", "run-term"):
    time.sleep(60)
"""


def test_sigterm_as_soon_as_the_step_is_running_is_recorded_as_failed(ops_db):
    url = ops_db("sigterm")
    env = dict(os.environ, RT_DB_URL=url.url)
    out = subprocess.run(
        [sys.executable, "-c", _TERM_AFTER_INSERT, url.url], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "JobTerminated" in out.stderr, out.stderr[-2000:]
    status, error = sql_rows(url, "select status, error from job_log where run_id = 'run-term'")[0]
    assert status == "failed" and "JobTerminated" in error
    assert ("critical", "job_failed") in set(sql_rows(url, "select tier, code from alerts where run_id = 'run-term'"))


def test_full_log_disk_is_reported_not_fatal(ops_db, tmp_path, monkeypatch):
    """Fault drill: the log folder is full (files pointing at /dev/full give ENOSPC on every write)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full not available: see the runbook's tmpfs drill")
    url = ops_db("logfull")
    folder = tmp_path / "full"
    folder.mkdir()
    for name in logs.LOG_FILES:
        (folder / name).symlink_to("/dev/full")
    logs.setup_logging(folder, force=True)
    try:
        with job_step(url, "eod_report", "run-full") as step:
            logs.get_logger("app").info("this write fails")
            step.rows = 1
        status, details = sql_rows(url, "select status, details from job_log where run_id = 'run-full'")[0]
        assert status == "success" and "No space left" in " ".join(details["log_errors"])
        assert ("critical", "log_write_failed") in set(sql_rows(url, "select tier, code from alerts"))
    finally:
        logs.setup_logging(force=True)
