"""One run at a time, and dbt dies with its job: a kill -9 of the job mid-build leaves no dbt behind and the
next run succeeds; two runs started together never build the warehouse at the same time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid

import psutil
import pytest

from rapidtrader.jobs import dbt_build
from tests.ops.conftest import REPO, WAREHOUSE_SELECT, child_env, mart_counts, python, sql_rows

pytestmark = pytest.mark.e2e


def _start_build(url, run_id: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [python(), "-m", "rapidtrader.jobs.dbt_build", *WAREHOUSE_SELECT],
        cwd=REPO,
        env=child_env(url, RT_RUN_ID=run_id, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so the test can clean up whatever survives
    )


def _wait_for(predicate, what: str, proc: subprocess.Popen | None = None, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the job ended before {what}: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _dbt_children(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if any("dbt" in part for part in c.cmdline()[:2])]


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_kill_9_of_the_job_mid_dbt_leaves_no_dbt_and_the_next_run_succeeds(warehouse):
    before = mart_counts(warehouse)
    run_id = "k9-" + uuid.uuid4().hex[:6]
    proc = _start_build(warehouse, run_id)
    dbt: list[psutil.Process] = []
    try:
        _wait_for(lambda: sql_rows(warehouse, "select 1 from job_log where run_id = %s", (run_id,)), "job_log", proc)
        dbt = _wait_for(lambda: _dbt_children(proc.pid), "dbt to start", proc)
        time.sleep(2)  # dbt is parsing or building; the whole build takes well over 10 s more
        os.kill(proc.pid, signal.SIGKILL)  # the job only, as the OOM killer or `kill -9 <pid>` would
        proc.wait()
        # Seconds, not the rest of the build: an orphaned dbt would still be building.
        gone, alive = psutil.wait_procs(dbt, timeout=5)
        assert not alive, f"dbt outlived its job: {[p.pid for p in alive]}"
    finally:
        for p in dbt:
            if p.is_running():
                p.kill()
        _kill_group(proc)
    # The next run takes the lock, marks the killed step failed and builds the same marts.
    dbt_build.run(warehouse, "after-" + run_id, WAREHOUSE_SELECT)
    status, error = sql_rows(warehouse, "select status, error from job_log where run_id = %s", (run_id,))[0]
    assert status == "failed" and "killed" in error
    assert sql_rows(warehouse, "select status from job_log where run_id = %s", ("after-" + run_id,)) == [("success",)]
    assert mart_counts(warehouse) == before


def test_a_second_run_waits_for_the_first_or_stops_naming_it(warehouse):
    before = mart_counts(warehouse)
    first = "one-" + uuid.uuid4().hex[:6]
    proc = _start_build(warehouse, first)
    impatient = patient = None
    try:
        _wait_for(lambda: _dbt_children(proc.pid), "the first run's dbt", proc)
        # A run that will not wait stops at once with one line naming the running run.
        impatient = subprocess.run(
            [python(), "-m", "rapidtrader.jobs.dbt_build", *WAREHOUSE_SELECT],
            cwd=REPO,
            env=child_env(warehouse, RT_RUN_ID="no-wait", RT_LOCK_WAIT_S="0"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        # A run that may wait starts only when the first has finished.
        patient = subprocess.Popen(
            [python(), "-m", "rapidtrader.jobs.dbt_build", *WAREHOUSE_SELECT],
            cwd=REPO,
            env=child_env(warehouse, RT_RUN_ID="waits", RT_LOCK_WAIT_S="600"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        p_out, p_err = patient.communicate(timeout=600)
        assert patient.returncode == 0, p_err[-3000:]
    finally:
        _kill_group(proc)
        if patient is not None and patient.poll() is None:
            patient.kill()
    assert impatient.returncode == 1
    errors = [line for line in impatient.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and first in errors[0] and "RT_LOCK_WAIT_S" in errors[0], impatient.stderr
    assert not sql_rows(warehouse, "select 1 from job_log where run_id = 'no-wait'")  # it never started a step
    assert ("warning", "run_blocked") in set(
        sql_rows(warehouse, "select tier, code from alerts where run_id = 'no-wait'")
    )
    assert "waiting up to 600 s" in p_out and first in p_out
    (ended,) = sql_rows(warehouse, "select finished_at from job_log where run_id = %s", (first,))[0]
    (started,) = sql_rows(warehouse, "select started_at from job_log where run_id = 'waits'")[0]
    assert started >= ended, "the second run built while the first was still building"
    statuses = sql_rows(warehouse, "select run_id, status from job_log where run_id in (%s, 'waits')", (first,))
    assert sorted(statuses) == sorted([(first, "success"), ("waits", "success")])
    assert mart_counts(warehouse) == before
