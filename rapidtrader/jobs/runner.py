"""Job bookkeeping: every step of a run writes one ops.job_log row (job_name, started_at, finished_at,
status, rows, error), so the runbook's runtime query works verbatim and a failed step is visible.

    with job_step(url, "eod_ingest", run_id) as step:
        ...
        step.rows = 1234
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rapidtrader.db import DbUrl, connect


def new_run_id() -> str:
    return os.environ.get("RT_RUN_ID") or uuid.uuid4().hex[:12]


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children (dbt runs as a child), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


@dataclass
class JobStep:
    job_name: str
    run_id: str
    rows: int | None = None
    details: dict = field(default_factory=dict)
    status: str = "success"
    log_id: int | None = None


def _insert(url: DbUrl, step: JobStep) -> int:
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "insert into ops.job_log (run_id, job_name, status) values (%s, %s, 'running') returning id",
            (step.run_id, step.job_name),
        )
        log_id = cur.fetchone()[0]
    conn.close()
    return log_id


def _finish(url: DbUrl, step: JobStep, status: str, error: str | None) -> None:
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            """
            update ops.job_log
            set finished_at = now(), status = %s, rows = %s, error = %s, details = %s::jsonb
            where id = %s
            """,
            (status, step.rows, error, json.dumps(step.details, default=str), step.log_id),
        )
    conn.close()


@contextmanager
def job_step(url: DbUrl, job_name: str, run_id: str) -> Iterator[JobStep]:
    """Record a step; an exception marks it failed (with the error text) and propagates."""
    step = JobStep(job_name=job_name, run_id=run_id)
    step.log_id = _insert(url, step)
    started = time.monotonic()
    try:
        yield step
    except BaseException as exc:
        step.details.setdefault("duration_s", round(time.monotonic() - started, 3))
        step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
        message = f"{type(exc).__name__}: {exc}"
        try:
            _finish(url, step, "failed", message[:4000])
        except Exception as log_exc:  # noqa: BLE001 - the original error matters more
            print(f"warning: could not record failure in job_log: {log_exc}", file=sys.stderr)
        raise
    step.details.setdefault("duration_s", round(time.monotonic() - started, 3))
    step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    _finish(url, step, step.status, None)
