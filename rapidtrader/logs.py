"""Log files the runbook lists, under RT_LOG_DIR (default `<repo>/logs`).

    app.log       every event of every job
    jobs.log      job start / finish / failure lines (rapidtrader.jobs)
    api.log       one line per provider call with status and latency (rapidtrader.api)
    database.log  backups, restores, maintenance, connection problems (rapidtrader.database)
    error.log     warnings and errors from everything, and every alert whatever its tier

One line per event: `2025-01-02T21:15:03.123+0000 INFO job=eod_ingest run=1a2b3c4d5e6f rapidtrader.jobs:
message` (newlines inside a message are escaped so `grep` and `tail -f` stay useful). Files rotate at
midnight into `app.log.YYYY-MM-DD`; rotated files are gzipped after RT_LOG_COMPRESS_DAYS (7) and deleted
after RT_LOG_RETENTION_DAYS (30). The same `enforce_retention()` runs at each rotation and from
`scripts/cleanup_logs.py`, which catches files rotated while no process was running.

A log folder that cannot be written (missing permission, full disk) never stops a job: the event goes to
stderr instead, and `write_errors()` reports it so the job records it in job_log and raises an alert.

Every line is redacted as it is formatted (rapidtrader.redact): an API key quoted by a provider's error, or
a URL password, never reaches a log file, whichever logger or library wrote the event.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import gzip
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

from rapidtrader.redact import redact
from rapidtrader.settings import get_settings

LOG_FILES = ("app.log", "jobs.log", "api.log", "database.log", "error.log")
ROOT_LOGGER = "rapidtrader"
JOBS_LOGGER = "rapidtrader.jobs"
API_LOGGER = "rapidtrader.api"
DB_LOGGER = "rapidtrader.database"
ALERTS_LOGGER = "rapidtrader.alerts"

FORMAT = "%(asctime)s %(levelname)s job=%(job)s run=%(run_id)s %(name)s: %(message)s"
ROTATED = re.compile(r"^(?P<base>.+\.log)\.(?P<day>\d{4}-\d{2}-\d{2})(?P<gz>\.gz)?$")

_job: contextvars.ContextVar[str] = contextvars.ContextVar("rt_job", default="-")
_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("rt_run_id", default="-")


def retention_days() -> int:
    return get_settings().log_retention_days


def compress_after_days() -> int:
    return get_settings().log_compress_days


@dataclass
class LogState:
    """What setup_logging did, and the write failures since (read by job_step and the alerts)."""

    log_dir: Path | None = None
    handlers: list[logging.Handler] = field(default_factory=list)
    setup_error: str | None = None
    write_errors: list[str] = field(default_factory=list)


_state = LogState()


class ContextFilter(logging.Filter):
    """Stamp every record with the job and run id of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job"):
            record.job = _job.get()
        if not hasattr(record, "run_id"):
            record.run_id = _run_id.get()
        return True


class NameFilter(logging.Filter):
    """Keep records from some logger names (prefix match), or at/above a level, or both."""

    def __init__(self, prefixes: tuple[str, ...] = (), min_level: int | None = None) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.min_level = min_level

    def filter(self, record: logging.LogRecord) -> bool:
        if self.min_level is not None and record.levelno >= self.min_level:
            return True
        return any(record.name == p or record.name.startswith(p + ".") for p in self.prefixes)


class OneLineFormatter(logging.Formatter):
    """ISO timestamps with milliseconds and offset; a multi-line event (traceback) stays one line; secrets
    are masked (the last point every log line passes, whoever logged it)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = dt.datetime.fromtimestamp(record.created).astimezone()
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}" + stamp.strftime("%z")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record)).replace("\r", "").replace("\n", "\\n")


class RotatingLogFile(TimedRotatingFileHandler):
    """Midnight rotation; retention and compression are ours (the stdlib would not gzip)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, when="midnight", backupCount=0, encoding="utf-8", delay=True)

    def doRollover(self) -> None:  # noqa: N802
        super().doRollover()
        try:
            enforce_retention(Path(self.baseFilename).parent)
        except (OSError, ValueError) as exc:  # ValueError: a bad RT_LOG_* setting; logging must go on
            _note_write_error(f"log retention failed: {exc}")

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        exc = sys.exc_info()[1]
        _note_write_error(f"cannot write {self.baseFilename}: {exc}")
        # The event itself must not be lost: stderr is the fallback.
        with contextlib.suppress(Exception):
            sys.stderr.write(self.format(record) + "\n")
        # Drop the broken stream so the next event tries to reopen the file (the disk may have space again).
        with contextlib.suppress(Exception):
            if self.stream:
                self.stream.close()
        self.stream = None  # type: ignore[assignment]


def _note_write_error(message: str) -> None:
    if message not in _state.write_errors:
        _state.write_errors.append(message)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"warning: {message}; logging to stderr until it is fixed\n")


def _file_handler(path: Path, log_filter: logging.Filter, level: int) -> logging.Handler:
    handler = RotatingLogFile(path)
    handler.setLevel(level)
    handler.setFormatter(OneLineFormatter(FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(log_filter)
    return handler


def setup_logging(log_dir: Path | str | None = None, *, console: bool = False, force: bool = False) -> Path | None:
    """Attach the five file handlers to the `rapidtrader` logger (idempotent; `force` re-reads RT_LOG_DIR).

    Returns the log folder, or None when it cannot be created (events then go to stderr).
    """
    if log_dir is None and _state.handlers and not force:
        return _state.log_dir  # already set up (perhaps with an explicit folder): keep it
    target = Path(log_dir) if log_dir else get_settings().log_dir
    if _state.handlers and _state.log_dir == target and not force:
        return target
    reset_logging()
    root = logging.getLogger(ROOT_LOGGER)
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK):
            raise PermissionError(f"{target} is not writable")
    except OSError as exc:
        _state.setup_error = f"log folder {target} unusable ({exc}); set RT_LOG_DIR to a writable folder"
        _note_write_error(_state.setup_error)
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(OneLineFormatter(FORMAT))
        fallback.addFilter(ContextFilter())
        root.addHandler(fallback)
        _state.handlers.append(fallback)
        return None
    specs = {
        "app.log": (NameFilter((ROOT_LOGGER,)), logging.INFO),
        "jobs.log": (NameFilter((JOBS_LOGGER,)), logging.INFO),
        "api.log": (NameFilter((API_LOGGER,)), logging.INFO),
        "database.log": (NameFilter((DB_LOGGER,)), logging.INFO),
        "error.log": (NameFilter((ALERTS_LOGGER,), min_level=logging.WARNING), logging.INFO),
    }
    for name, (log_filter, level) in specs.items():
        handler = _file_handler(target / name, log_filter, level)
        root.addHandler(handler)
        _state.handlers.append(handler)
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.setFormatter(OneLineFormatter(FORMAT))
        stream.addFilter(ContextFilter())
        root.addHandler(stream)
        _state.handlers.append(stream)
    _state.log_dir = target
    return target


def reset_logging() -> None:
    """Close and detach our handlers (tests; a change of RT_LOG_DIR)."""
    root = logging.getLogger(ROOT_LOGGER)
    for handler in _state.handlers:
        root.removeHandler(handler)
        with contextlib.suppress(Exception):
            handler.close()
    _state.handlers.clear()
    _state.log_dir = None
    _state.setup_error = None
    _state.write_errors.clear()


def write_errors() -> list[str]:
    """Log write failures since setup (a full or read-only log folder)."""
    return list(_state.write_errors)


def current_log_dir() -> Path | None:
    return _state.log_dir


@contextlib.contextmanager
def log_context(job: str | None = None, run_id: str | None = None) -> Iterator[None]:
    """Every event logged inside carries this job name and run id."""
    tokens = []
    if job is not None:
        tokens.append((_job, _job.set(job)))
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def get_logger(kind: str = "app") -> logging.Logger:
    """`app`, `jobs`, `api`, `database` or `alerts`."""
    names = {"app": ROOT_LOGGER, "jobs": JOBS_LOGGER, "api": API_LOGGER, "database": DB_LOGGER}
    names["alerts"] = ALERTS_LOGGER
    return logging.getLogger(names.get(kind, f"{ROOT_LOGGER}.{kind}"))


def log_api_call(
    provider: str, method: str, endpoint: str, status: int | None, latency_s: float, error: str | None = None
) -> None:
    """One api.log line per provider call (the URL without its query string; the line is redacted too)."""
    level = logging.INFO if status is not None and status < 400 and not error else logging.WARNING
    get_logger("api").log(
        level,
        "provider=%s method=%s endpoint=%s status=%s latency_ms=%.0f%s",
        provider,
        method,
        endpoint,
        status if status is not None else "-",
        latency_s * 1000.0,
        f" error={error}" if error else "",
    )


@dataclass
class RetentionResult:
    compressed: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _rotated_day(path: Path) -> dt.date | None:
    match = ROTATED.match(path.name)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group("day"))
    except ValueError:
        return None


def enforce_retention(
    log_dir: Path,
    *,
    keep_days: int | None = None,
    compress_days: int | None = None,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> RetentionResult:
    """Gzip rotated files older than `compress_days`, delete those older than `keep_days`.

    Age is the date in the rotated file's name (`app.log.2025-01-02`), so a folder copied or touched
    keeps its schedule. The live `*.log` files are never touched.
    """
    keep = retention_days() if keep_days is None else keep_days
    compress = compress_after_days() if compress_days is None else compress_days
    today = today or dt.date.today()
    result = RetentionResult()
    if not log_dir.is_dir():
        return result
    for path in sorted(log_dir.iterdir()):
        day = _rotated_day(path)
        if day is None or not path.is_file():
            continue
        age = (today - day).days
        try:
            if age > keep:
                if not dry_run:
                    path.unlink()
                result.deleted.append(path)
            elif age > compress and not path.name.endswith(".gz"):
                target = path.with_name(path.name + ".gz")
                if not dry_run:
                    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    shutil.copystat(path, target)
                    path.unlink()
                result.compressed.append(path)
        except OSError as exc:
            result.errors.append(f"{path}: {exc}")
    return result
