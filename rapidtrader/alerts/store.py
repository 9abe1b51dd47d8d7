"""Alerts in the warehouse: ops.alerts keeps every alert with its webhook delivery status, and the daily
report and the health check read the recent ones back."""

from __future__ import annotations

import json

from rapidtrader.alerts.model import Alert
from rapidtrader.db import DbUrl, connect
from rapidtrader.redact import configured_secrets, redact, redact_obj


def insert(url: DbUrl, delivered: list[tuple[Alert, str | None]], run_id: str | None) -> None:
    """One ops.alerts row per (alert, webhook status); messages and details redacted like every sink."""
    secrets = configured_secrets()
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into ops.alerts (run_id, tier, code, message, details, webhook_status) "
                "values (%s, %s, %s, %s, %s::jsonb, %s)",
                [
                    (
                        run_id,
                        a.tier,
                        a.code,
                        redact(a.message, secrets),
                        json.dumps(redact_obj(a.details, secrets), default=str),
                        status,
                    )
                    for a, status in delivered
                ],
            )
    finally:
        conn.close()


def recent_alerts(cur, run_id: str | None = None, hours: int = 24) -> list[dict]:
    """The alerts of one run, or of the last `hours` hours, oldest first."""
    if run_id:
        cur.execute("select raised_at, tier, code, message from ops.alerts where run_id = %s order by id", (run_id,))
    else:
        cur.execute(
            "select raised_at, tier, code, message from ops.alerts "
            "where raised_at >= now() - make_interval(hours => %s) order by id",
            (hours,),
        )
    return [dict(zip(("raised_at", "tier", "code", "message"), row, strict=True)) for row in cur.fetchall()]
