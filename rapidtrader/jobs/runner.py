"""Job bookkeeping: every step of a run writes one ops.job_log row (job_name, started_at, finished_at,
status, rows, error), so the runbook's runtime query works verbatim and a failed step is visible.

    with job_step(url, "eod_ingest", run_id) as step:
        ...
        step.rows = 1234

Around each step: its events carry its job name and run id in the log files (rapidtrader.logs); provider
calls made inside it are traced; its duration, peak memory, rows and API figures go to ops.run_metrics; a
SIGTERM is recorded as a failure before the process exits; everything it stores or prints is redacted
(rapidtrader.redact). The outermost step of a run also:
- holds the warehouse lock for the whole run (rapidtrader.run_lock), so two runs never build one database
  at the same time; a run that cannot get it waits RT_LOCK_WAIT_S, then stops with a warning alert;
- marks steps left `running` by a run that was killed outright (SIGKILL, power loss) as failed, with a
  critical alert (safe under the lock: no other run of this warehouse is alive);
- when the database cannot be reached, still logs the failure and raises a critical alert (log and webhook);
- when it ends, evaluates the runbook's alert thresholds (rapidtrader.alerts).
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import psycopg2

from rapidtrader import logs, metrics_run, run_lock
from rapidtrader.db import DatabaseError, DbUrl, connect
from rapidtrader.redact import guard_std_streams, redact, redact_obj
from rapidtrader.settings import get_settings

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("rt_job_depth", default=0)


class JobTerminated(BaseException):
    """SIGTERM arrived while a job ran: unwinds like KeyboardInterrupt so the step is recorded as failed."""


def new_run_id() -> str:
    """RT_RUN_ID when set (a scheduler that names its runs), else a new random id."""
    return get_settings().run_id or uuid.uuid4().hex[:12]


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
            (step.run_id, step.job_name, json.dumps(redact_obj(step.details), default=str)),
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
            (status, step.rows, redact(error), json.dumps(redact_obj(step.details), default=str), step.log_id),
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
    """Mark `running` rows of dead runs as failed; returns (id, run_id, job_name).

    Called with the warehouse lock held, so no other run of this warehouse is alive: every `running` row
    is a leftover, whatever host wrote it. A process on this host that is still alive under that pid is
    left alone all the same (it would be a job that does not take the lock).
    """
    host = socket.gethostname()
    conn = connect(url)
    conn.autocommit = True
    reaped = []
    with conn.cursor() as cur:
        cur.execute(
            "select id, run_id, job_name, details->>'pid', details->>'pid_started', details->>'host' "
            "from ops.job_log where status = 'running'"
        )
        for log_id, run_id, job_name, pid, pid_started, row_host in cur.fetchall():
            if row_host == host and pid and _alive(int(pid), pid_started):
                continue
            cur.execute(
                "update ops.job_log set status = 'failed', finished_at = now(), "
                "error = %s where id = %s and status = 'running'",
                (f"killed: process {pid} on {row_host} ended without finishing this step", log_id),
            )
            reaped.append((log_id, run_id, job_name))
    conn.close()
    return reaped


def report_start_failure(job_name: str, run_id: str, exc: BaseException, url: DbUrl | None = None) -> None:
    """A run that could not start (database unreachable, warehouse busy) is still logged and alerted.

    The runbook promises logs/error.log and the webhook always: neither needs the database. A busy
    warehouse is a warning (the other run is doing the work); an unreachable database is critical. `url`
    (a database that answers) also keeps the alert in ops.alerts.
    """
    from rapidtrader import alerts

    logs.setup_logging()
    guard_std_streams()
    busy = isinstance(exc, run_lock.RunLocked)
    message = redact(str(exc))
    with logs.log_context(job=job_name, run_id=run_id):
        logs.get_logger("jobs").error("%s of run %s did not start: %s", job_name, run_id, message)
        alert = alerts.Alert(
            "warning" if busy else "critical",
            "run_blocked" if busy else "database_down",
            f"{job_name} of run {run_id} did not start: {message}",
            {"job": job_name},
        )
        alerts.emit(url, [alert], run_id)


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


def _report_reaped(url: DbUrl, reaped: list[tuple[int, str, str]]) -> None:
    from rapidtrader import alerts

    jlog = logs.get_logger("jobs")
    for log_id, old_run, old_job in reaped:
        jlog.error("job %s of run %s (job_log id %s) was killed before it finished", old_job, old_run, log_id)
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


def _start_run(stack: ExitStack, url: DbUrl, step: JobStep) -> None:
    """Take the warehouse lock (kept until the run ends) and settle what killed runs left behind."""
    stack.enter_context(run_lock.hold(url, f"run {step.run_id} ({step.job_name})"))
    try:
        reaped = reap_orphans(url)
    except (DatabaseError, psycopg2.Error) as exc:  # bookkeeping of older runs must not block this one
        logs.get_logger("jobs").warning("could not check for killed jobs: %s", exc)
        reaped = []
    _report_reaped(url, reaped)


def _finish_failed(url: DbUrl, step: JobStep, exc: BaseException, started: float, first_call: int) -> None:
    duration = time.monotonic() - started
    step.details.setdefault("duration_s", round(duration, 3))
    step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    if logs.write_errors():
        step.details["log_errors"] = logs.write_errors()
    message = redact(f"{type(exc).__name__}: {exc}")
    logs.get_logger("jobs").error("failed %s after %.1f s: %s", step.job_name, duration, message)
    try:
        _finish(url, step, "failed", message[:4000])
    except Exception as log_exc:  # noqa: BLE001 - the original error matters more
        print(f"warning: could not record failure in job_log: {redact(str(log_exc))}", file=sys.stderr)
    _record_metrics(url, step, "failed", duration, first_call)


def _finish_ok(url: DbUrl, step: JobStep, started: float, first_call: int) -> None:
    duration = time.monotonic() - started
    step.details.setdefault("duration_s", round(duration, 3))
    step.details.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    if logs.write_errors():
        step.details["log_errors"] = logs.write_errors()
    _finish(url, step, step.status, None)
    logs.get_logger("jobs").info(
        "finished %s status=%s rows=%s duration_s=%.1f peak_rss_mb=%.0f",
        step.job_name,
        step.status,
        step.rows,
        duration,
        peak_rss_mb(),
    )
    _record_metrics(url, step, step.status, duration, first_call)


def record_step(url: DbUrl, step: JobStep, started_at: str, finished_at: str) -> None:
    """A step that ran inside another process (a dbt command of a dbt session): its finished job_log row,
    with the start and end that process reported."""
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "insert into ops.job_log (run_id, job_name, started_at, finished_at, status, rows, details) "
            "values (%s, %s, %s, %s, %s, %s, %s::jsonb)",
            (
                step.run_id,
                step.job_name,
                started_at,
                finished_at,
                step.status,
                step.rows,
                json.dumps(redact_obj(step.details), default=str),
            ),
        )
    conn.close()


@contextmanager
def job_step(url: DbUrl, job_name: str, run_id: str) -> Iterator[JobStep]:
    """Record a step; an exception marks it failed (with the error text) and propagates."""
    logs.setup_logging()
    guard_std_streams()
    metrics_run.install_api_tracing()
    outermost = _depth.get() == 0
    step = JobStep(job_name=job_name, run_id=run_id)
    step.details.update(_process_identity())
    terminable = outermost and threading.current_thread() is threading.main_thread()
    with logs.log_context(job=job_name, run_id=run_id), ExitStack() as run:
        if terminable:
            # The handler is in place before the step's row says `running`, and SIGTERM is held back from
            # that insert until the block below that records a failure: a SIGTERM sent as soon as the row
            # is visible is then always recorded (it used to find the default handler and kill the job
            # with the row left `running`).
            run.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _on_sigterm))
            run.callback(signal.pthread_sigmask, signal.SIG_UNBLOCK, {signal.SIGTERM})
        try:
            if outermost:
                _start_run(run, url, step)
            if terminable:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            step.log_id = _insert(url, step)
        except (DatabaseError, psycopg2.Error) as exc:
            if outermost:
                report_start_failure(job_name, run_id, exc, url if isinstance(exc, run_lock.RunLocked) else None)
            raise
        token = _depth.set(_depth.get() + 1)
        first_call = metrics_run.next_seq()
        started = time.monotonic()
        try:
            try:
                if terminable:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                logs.get_logger("jobs").info("started %s (job_log id %s)", job_name, step.log_id)
                yield step
            except BaseException as exc:
                _finish_failed(url, step, exc, started, first_call)
                raise
            _finish_ok(url, step, started, first_call)
        finally:
            _depth.reset(token)
            if outermost:
                _after_run(url, run_id)
