"""Job bookkeeping: every step of a run writes one ops.job_log row (job_name, started_at, finished_at,
status, rows, error), so the runbook's runtime query works verbatim and a failed step is visible.

    with job_step(url, "eod_ingest", run_id) as step:
        ...
        step.rows = 1234

Around each step (issue 5): the step's events carry its job name and run id in the log files
(rapidtrader.logs); provider calls made inside it are traced; its duration, peak memory, rows and API
figures go to ops.run_metrics; a SIGTERM is recorded as a failure before the process exits; a step left
`running` by a process that was killed outright (SIGKILL, power loss) is marked failed by the next run;
and when the outermost step of a run ends, the runbook's alert thresholds are evaluated (rapidtrader.alerts).
"""

from __future__ import annotations

import contextvars
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rapidtrader import logs, metrics_run
from rapidtrader.db import DbUrl, connect

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("rt_job_depth", default=0)


class JobTerminated(BaseException):
    """SIGTERM arrived while a job ran: unwinds like KeyboardInterrupt so the step is recorded as failed."""


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
            "insert into ops.job_log (run_id, job_name, status, details) "
            "values (%s, %s, 'running', %s::jsonb) returning id",
            (step.run_id, step.job_name, json.dumps(step.details, default=str)),
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


def _process_identity() -> dict:
    """Enough to tell later whether the process that owns a `running` row is still alive."""
    import psutil

    return {"pid": os.getpid(), "host": socket.gethostname(), "pid_started": psutil.Process().create_time()}


def _alive(pid: int, pid_started: float | None) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        return pid_started is None or abs(proc.create_time() - float(pid_started)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def reap_orphans(url: DbUrl) -> list[tuple[int, str, str]]:
    """Mark `running` rows of dead processes on this host as failed; returns (id, run_id, job_name)."""
    host = socket.gethostname()
    conn = connect(url)
    conn.autocommit = True
    reaped = []
    with conn.cursor() as cur:
        cur.execute(
            "select id, run_id, job_name, details->>'pid', details->>'pid_started' from ops.job_log "
            "where status = 'running' and details->>'host' = %s",
            (host,),
        )
        for log_id, run_id, job_name, pid, pid_started in cur.fetchall():
            if pid and _alive(int(pid), pid_started):
                continue
            cur.execute(
                "update ops.job_log set status = 'failed', finished_at = now(), "
                "error = %s where id = %s and status = 'running'",
                (f"killed: process {pid} on {host} ended without finishing this step", log_id),
            )
            reaped.append((log_id, run_id, job_name))
    conn.close()
    return reaped


def _on_sigterm(signum, frame) -> None:
    raise JobTerminated(f"terminated by signal {signum}")


def _record_metrics(url: DbUrl, step: JobStep, status: str, duration_s: float, first_call: int) -> None:
    """Best effort: metrics must never turn a good step into a failed one."""
    try:
        conn = connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            metrics_run.write_step_metrics(
                cur,
                run_id=step.run_id,
                job_name=step.job_name,
                status=status,
                duration_s=round(duration_s, 3),
                peak_rss_mb=round(peak_rss_mb(), 1),
                rows=step.rows,
                calls=metrics_run.calls_since(first_call),
                log_errors=len(logs.write_errors()),
            )
        conn.close()
    except Exception as exc:  # noqa: BLE001
        logs.get_logger("jobs").warning("could not record run metrics for %s: %s", step.job_name, exc)


def _after_run(url: DbUrl, run_id: str) -> None:
    from rapidtrader import alerts

    try:
        alerts.evaluate_run(url, run_id)
    except Exception as exc:  # noqa: BLE001
        logs.get_logger("jobs").error("alert evaluation failed for run %s: %s", run_id, exc)


@contextmanager
def job_step(url: DbUrl, job_name: str, run_id: str) -> Iterator[JobStep]:
    """Record a step; an exception marks it failed (with the error text) and propagates."""
    logs.setup_logging()
    metrics_run.install_api_tracing()
    outermost = _depth.get() == 0
    jlog = logs.get_logger("jobs")
    step = JobStep(job_name=job_name, run_id=run_id)
    step.details.update(_process_identity())
    with logs.log_context(job=job_name, run_id=run_id):
        if outermost:
            try:
                reaped = reap_orphans(url)
            except Exception as exc:  # noqa: BLE001 - bookkeeping of older runs must not block this one
                jlog.warning("could not check for killed jobs: %s", exc)
                reaped = []
            if reaped:
                from rapidtrader import alerts

                for log_id, old_run, old_job in reaped:
                    jlog.error(
                        "job %s of run %s (job_log id %s) was killed before it finished",
                        old_job,
                        old_run,
                        log_id,
                    )
                    alerts.emit(
                        url,
                        [
                            alerts.Alert(
                                "critical",
                                "job_killed",
                                f"job {old_job} of run {old_run} was killed before it finished (job_log id {log_id})",
                                {"job_log_id": log_id},
                            )
                        ],
                        old_run,
                    )
        step.log_id = _insert(url, step)
        jlog.info("started %s (job_log id %s)", job_name, step.log_id)
        token = _depth.set(_depth.get() + 1)
        previous_handler = None
        if outermost and threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
        first_call = metrics_run.next_seq()
        started = time.monotonic()
        try:
            try:
                yield step
            except BaseException as exc:
                duration = time.monotonic() - started
                step.details.setdefault("duration_s", round(duration, 3))
                step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
                if logs.write_errors():
                    step.details["log_errors"] = logs.write_errors()
                message = f"{type(exc).__name__}: {exc}"
                jlog.error("failed %s after %.1f s: %s", job_name, duration, message)
                try:
                    _finish(url, step, "failed", message[:4000])
                except Exception as log_exc:  # noqa: BLE001 - the original error matters more
                    print(f"warning: could not record failure in job_log: {log_exc}", file=sys.stderr)
                _record_metrics(url, step, "failed", duration, first_call)
                raise
            duration = time.monotonic() - started
            step.details.setdefault("duration_s", round(duration, 3))
            step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
            if logs.write_errors():
                step.details["log_errors"] = logs.write_errors()
            _finish(url, step, step.status, None)
            jlog.info(
                "finished %s status=%s rows=%s duration_s=%.1f peak_rss_mb=%.0f",
                job_name,
                step.status,
                step.rows,
                duration,
                peak_rss_mb(),
            )
            _record_metrics(url, step, step.status, duration, first_call)
        finally:
            _depth.reset(token)
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
            if outermost:
                _after_run(url, run_id)
