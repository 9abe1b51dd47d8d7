"""Getting an alert to people: a line in error.log first, then the webhook, then ops.alerts.

That order is on purpose: an alert about a database outage must still reach the log and the webhook, so
neither waits for the database. Delivery never raises: the alert path must not fail the job it reports on.
Everything leaving the process is redacted (rapidtrader.redact): messages quote provider errors, which
quote request URLs.
"""

from __future__ import annotations

import datetime as dt

import requests

from rapidtrader import logs
from rapidtrader.alerts import store
from rapidtrader.alerts.model import LEVELS, Alert
from rapidtrader.db import DbUrl
from rapidtrader.redact import redact, redact_obj
from rapidtrader.settings import SettingsError, get_settings


def webhook_payload(alert: Alert, run_id: str | None) -> dict:
    """Slack/Mattermost-compatible JSON (`text`) with the alert's fields beside it for other receivers."""
    payload = {
        "text": f"[{alert.tier.upper()}] RapidTrader {alert.code}: {alert.message}",
        "tier": alert.tier,
        "code": alert.code,
        "message": alert.message,
        "run_id": run_id,
        "details": alert.details,
        "raised_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    return redact_obj(payload)


def post_webhook(alert: Alert, run_id: str | None) -> str | None:
    """POST to RT_ALERT_WEBHOOK_URL; returns the delivery status (None when no webhook is set).

    The webhook URL itself is a secret (a Slack URL is its own credential), so it is never logged.
    """
    log = logs.get_logger("alerts")
    try:
        s = get_settings()
    except SettingsError as exc:  # entry points refuse bad settings first; a library caller may not have
        log.error("webhook not tried, the settings are invalid: %s", exc)
        return "error: SettingsError"
    if not s.alert_webhook_url:
        return None
    try:
        response = requests.post(
            s.alert_webhook_url,
            json=webhook_payload(alert, run_id),
            timeout=s.alert_webhook_timeout_s,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        log.error("webhook (RT_ALERT_WEBHOOK_URL) unreachable: %s", redact(str(exc)))
        return f"error: {type(exc).__name__}"
    if response.status_code >= 300:
        log.error("webhook (RT_ALERT_WEBHOOK_URL) answered HTTP %s", response.status_code)
    return str(response.status_code)


def emit(url: DbUrl | None, alerts: list[Alert], run_id: str | None) -> list[Alert]:
    """Log, post and store each alert (`url` None: the database is the problem, log and webhook only)."""
    log = logs.get_logger("alerts")
    delivered = []
    for alert in alerts:
        log.log(LEVELS[alert.tier], "ALERT tier=%s code=%s %s", alert.tier, alert.code, alert.message)
        delivered.append((alert, post_webhook(alert, run_id)))
    if url is not None and delivered:
        try:
            store.insert(url, delivered, run_id)
        except Exception as exc:  # noqa: BLE001 - the log line above already carries the alert
            log.error("could not store %d alert(s) in ops.alerts: %s", len(delivered), exc)
    return alerts
