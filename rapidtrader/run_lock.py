"""One run at a time per warehouse: a Postgres advisory lock held for the whole run.

Two runs on one database (a cron run still going when the next one starts, a `make eod` typed during the
nightly) rebuild the same tables at the same moment and collide ("relation ... already exists"), or leave
marts from two different builds side by side. So every job run (the outermost job_step) and every ad-hoc run
of the data-quality tests takes this lock first. A run that finds it taken waits up to RT_LOCK_WAIT_S
seconds, then stops with one line naming the run that holds it.

Advisory locks belong to one database, so two warehouses on one server never block each other. The lock
lives exactly as long as the connection that took it: a run killed outright (SIGKILL, OOM, power loss)
loses its connection and the server releases the lock; nothing is left to clean up by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
from collections.abc import Iterator

from rapidtrader.db import DatabaseError, DbUrl, connect

# An arbitrary constant ('RTWA'): the same key in every process, one lock per database.
LOCK_KEY = 0x5254_5741
APP_PREFIX = "rapidtrader"


class RunLocked(DatabaseError):
    """Another run holds the warehouse lock; the message names it and says what to do."""


def application_name(label: str) -> str:
    """What pg_stat_activity shows for the lock's connection, so a waiting run can name the holder."""
    return f"{APP_PREFIX} {label} pid {os.getpid()} on {socket.gethostname()}"[:63]


def holder(cur) -> str:
    """A description of the session holding the lock, for the message of the run that waits."""
    cur.execute(
        """
        select a.application_name, a.backend_start
        from pg_locks as l
        inner join pg_stat_activity as a on a.pid = l.pid
        where
            l.locktype = 'advisory' and l.granted and l.objsubid = 1
            and l.classid = %s and l.objid = %s
            and l.database = (select oid from pg_database where datname = current_database())
        """,
        (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
    )
    row = cur.fetchone()
    if row is None:
        return "another run (it has just finished)"
    name, since = row
    who = name.removeprefix(APP_PREFIX + " ") if name and name.startswith(APP_PREFIX) else f"a session ({name})"
    when = since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if since else "?"
    return f"{who}, running since {when}"


@contextlib.contextmanager
def hold(url: DbUrl, label: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the warehouse lock of `url` inside the block; raises RunLocked after waiting `wait_s` seconds
    (RT_LOCK_WAIT_S by default) for a run that does not finish."""
    from rapidtrader.settings import get_settings

    wait = get_settings().lock_wait_s if wait_s is None else wait_s
    conn = connect(url, application_name=application_name(label))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + wait
            announced = False
            while True:
                cur.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,))
                if cur.fetchone()[0]:
                    break
                busy = holder(cur)
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"warehouse {url.dbname} is busy: {busy}; gave up after {wait:g} s (RT_LOCK_WAIT_S). "
                        "Let that run finish (or stop it if it is stuck), then run again"
                    )
                if not announced:
                    _note_waiting(url, busy, wait)
                    announced = True
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0.05)))
        yield
    finally:
        conn.close()


def _note_waiting(url: DbUrl, busy: str, wait: float) -> None:
    from rapidtrader import logs

    message = f"warehouse {url.dbname} is busy: {busy}; waiting up to {wait:g} s for it to finish"
    logs.get_logger("jobs").warning(message)
    print(f"note: {message}", flush=True)
