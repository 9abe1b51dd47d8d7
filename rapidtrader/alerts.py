"""The runbook's alert thresholds, evaluated after every run.

Tiers (settings in brackets, runbook defaults):
- critical: a job failed or was killed; the run took longer than RT_ALERT_RUNTIME_CRITICAL_MIN (45 min);
  data completeness of the latest session under RT_ALERT_COMPLETENESS_CRITICAL (98%); a risk-limit test
  failed (the orders were not published); an error-severity data-quality test failed; the log folder
  could not be written.
- warning: the run took longer than RT_ALERT_RUNTIME_WARN_MIN (30 min); completeness under
  RT_ALERT_COMPLETENESS_WARN (99%); peak memory over RT_ALERT_MEMORY_MB (1536 MB = 1.5 GB); a provider
  call slower than RT_ALERT_API_LATENCY_S (10 s); a provider rate limit (HTTP 429); a job finished
  partial; a warn-severity data-quality test.
- info: symbols that joined or left the S&P 500 universe since the previous run.

Every alert is a row in `ops.alerts` (tier, code, message, details), a line in error.log, and, when
RT_ALERT_WEBHOOK_URL is set, a JSON POST (`text` is Slack/Mattermost-compatible). Delivery is best
effort in the order log -> webhook -> table, so an alert about a database outage still reaches the log
and the webhook.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from rapidtrader import PROJECT_ROOT, logs
from rapidtrader.db import DbUrl, connect

TIERS = ("critical", "warning", "info")
LEVELS = {"critical": logging.CRITICAL, "warning": logging.WARNING, "info": logging.INFO}
# Jobs whose presence in a run means the marts were rebuilt, so completeness and dbt results are fresh.
BUILD_JOBS = ("eod_run", "dbt_build", "eod_trade")


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Thresholds:
    runtime_warn_min: float = field(default_factory=lambda: _float_env("RT_ALERT_RUNTIME_WARN_MIN", 30))
    runtime_critical_min: float = field(default_factory=lambda: _float_env("RT_ALERT_RUNTIME_CRITICAL_MIN", 45))
    completeness_warn: float = field(default_factory=lambda: _float_env("RT_ALERT_COMPLETENESS_WARN", 0.99))
    completeness_critical: float = field(default_factory=lambda: _float_env("RT_ALERT_COMPLETENESS_CRITICAL", 0.98))
    memory_mb: float = field(default_factory=lambda: _float_env("RT_ALERT_MEMORY_MB", 1536))
    api_latency_s: float = field(default_factory=lambda: _float_env("RT_ALERT_API_LATENCY_S", 10))


@dataclass
class Alert:
    tier: str
    code: str
    message: str
    details: dict = field(default_factory=dict)


@dataclass
class RunFacts:
    """What a run left behind, gathered from job_log, run_metrics, api_calls, the marts and dbt's results."""

    run_id: str
    failed_jobs: list[tuple[str, str]] = field(default_factory=list)
    partial_jobs: list[str] = field(default_factory=list)
    duration_s: float | None = None
    peak_rss_mb: float | None = None
    completeness: float | None = None
    session: str | None = None
    missing_symbols: list[str] = field(default_factory=list)
    slow_calls: list[tuple[str, str, float]] = field(default_factory=list)
    max_latency_s: float | None = None
    rate_limited: list[tuple[str, str]] = field(default_factory=list)
    risk_failures: list[str] = field(default_factory=list)
    dq_errors: list[str] = field(default_factory=list)
    dq_warnings: list[str] = field(default_factory=list)
    universe_added: list[str] = field(default_factory=list)
    universe_removed: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def evaluate(facts: RunFacts, t: Thresholds | None = None) -> list[Alert]:
    """Pure threshold logic: facts in, alerts out (tested tier by tier)."""
    t = t or Thresholds()
    out: list[Alert] = []
    if facts.failed_jobs:
        inner = [j for j in facts.failed_jobs if j[0] != "eod_run"] or facts.failed_jobs
        job, error = inner[0]
        out.append(
            Alert(
                "critical",
                "job_failed",
                f"job {job} failed in run {facts.run_id}: {error}",
                {"failed_jobs": [j for j, _ in facts.failed_jobs]},
            )
        )
    elif facts.partial_jobs:
        out.append(Alert("warning", "job_partial", f"jobs finished partial: {', '.join(facts.partial_jobs)}", {}))
    if facts.duration_s is not None:
        minutes = facts.duration_s / 60
        if minutes > t.runtime_critical_min:
            out.append(
                Alert(
                    "critical",
                    "runtime",
                    f"run took {minutes:.1f} min (> {t.runtime_critical_min:g} min)",
                    {"duration_s": facts.duration_s},
                )
            )
        elif minutes > t.runtime_warn_min:
            out.append(
                Alert(
                    "warning",
                    "runtime",
                    f"run took {minutes:.1f} min (> {t.runtime_warn_min:g} min)",
                    {"duration_s": facts.duration_s},
                )
            )
    if facts.completeness is not None:
        details = {
            "completeness": facts.completeness,
            "session": facts.session,
            "missing_symbols": facts.missing_symbols[:50],
        }
        shown = ", ".join(facts.missing_symbols[:10]) + (" ..." if len(facts.missing_symbols) > 10 else "")
        if facts.completeness < t.completeness_critical:
            out.append(
                Alert(
                    "critical",
                    "completeness",
                    f"data completeness {_pct(facts.completeness)} on {facts.session} "
                    f"(< {_pct(t.completeness_critical)}); missing: {shown}",
                    details,
                )
            )
        elif facts.completeness < t.completeness_warn:
            out.append(
                Alert(
                    "warning",
                    "completeness",
                    f"data completeness {_pct(facts.completeness)} on {facts.session} "
                    f"(< {_pct(t.completeness_warn)}); missing: {shown}",
                    details,
                )
            )
    if facts.peak_rss_mb is not None and facts.peak_rss_mb > t.memory_mb:
        out.append(
            Alert(
                "warning",
                "memory",
                f"peak memory {facts.peak_rss_mb / 1024:.2f} GB (> {t.memory_mb / 1024:.2f} GB)",
                {"peak_rss_mb": facts.peak_rss_mb},
            )
        )
    if facts.slow_calls:
        provider, endpoint, seconds = max(facts.slow_calls, key=lambda c: c[2])
        out.append(
            Alert(
                "warning",
                "api_latency",
                f"{len(facts.slow_calls)} provider call(s) slower than {t.api_latency_s:g} s; "
                f"slowest {provider} {endpoint} {seconds:.1f} s",
                {"slow_calls": len(facts.slow_calls), "max_latency_s": seconds},
            )
        )
    if facts.rate_limited:
        providers = sorted({p for p, _ in facts.rate_limited})
        out.append(
            Alert(
                "warning",
                "rate_limited",
                f"{len(facts.rate_limited)} call(s) rate limited (HTTP 429) by {', '.join(providers)}",
                {"count": len(facts.rate_limited)},
            )
        )
    if facts.risk_failures:
        out.append(
            Alert(
                "critical",
                "risk_violation",
                f"risk-limit tests failed, orders not published: {', '.join(facts.risk_failures)}",
                {"tests": facts.risk_failures},
            )
        )
    if facts.dq_errors:
        out.append(
            Alert(
                "critical",
                "data_quality",
                f"data-quality tests failed: {', '.join(facts.dq_errors[:10])}",
                {"tests": facts.dq_errors},
            )
        )
    if facts.dq_warnings:
        out.append(
            Alert(
                "warning",
                "data_quality",
                f"data-quality tests warned: {', '.join(facts.dq_warnings[:10])}",
                {"tests": facts.dq_warnings},
            )
        )
    if facts.log_errors:
        out.append(
            Alert(
                "critical",
                "log_write_failed",
                f"log folder not writable (full disk or permissions): {facts.log_errors[0]}",
                {"errors": facts.log_errors[:10]},
            )
        )
    if facts.universe_added or facts.universe_removed:
        out.append(
            Alert(
                "info",
                "universe_change",
                f"S&P 500 universe changed: added {', '.join(facts.universe_added) or 'none'}; "
                f"removed {', '.join(facts.universe_removed) or 'none'}",
                {"added": facts.universe_added, "removed": facts.universe_removed},
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Delivery


def post_webhook(alert: Alert, run_id: str | None) -> str | None:
    """POST to RT_ALERT_WEBHOOK_URL; returns the delivery status (None when no webhook is set)."""
    hook = os.environ.get("RT_ALERT_WEBHOOK_URL")
    if not hook:
        return None
    payload = {
        "text": f"[{alert.tier.upper()}] RapidTrader {alert.code}: {alert.message}",
        "tier": alert.tier,
        "code": alert.code,
        "message": alert.message,
        "run_id": run_id,
        "details": alert.details,
        "raised_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    try:
        response = requests.post(
            hook, json=payload, timeout=_float_env("RT_ALERT_WEBHOOK_TIMEOUT_S", 5), allow_redirects=False
        )
    except requests.RequestException as exc:
        logs.get_logger("alerts").error("webhook %s unreachable: %s", hook, exc)
        return f"error: {type(exc).__name__}"
    if response.status_code >= 300:
        logs.get_logger("alerts").error("webhook %s answered HTTP %s", hook, response.status_code)
    return str(response.status_code)


def emit(url: DbUrl | None, alerts: list[Alert], run_id: str | None) -> list[Alert]:
    """Log, post and store each alert; never raises (an alert path must not fail the job it reports)."""
    log = logs.get_logger("alerts")
    rows = []
    for alert in alerts:
        log.log(LEVELS[alert.tier], "ALERT tier=%s code=%s %s", alert.tier, alert.code, alert.message)
        rows.append((alert, post_webhook(alert, run_id)))
    if url is not None and rows:
        try:
            conn = connect(url)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into ops.alerts (run_id, tier, code, message, details, webhook_status) "
                    "values (%s, %s, %s, %s, %s::jsonb, %s)",
                    [(run_id, a.tier, a.code, a.message, json.dumps(a.details, default=str), s) for a, s in rows],
                )
            conn.close()
        except Exception as exc:  # noqa: BLE001 - the log line above already carries the alert
            log.error("could not store %d alert(s) in ops.alerts: %s", len(rows), exc)
    return alerts


# ---------------------------------------------------------------------------------------------------
# Gathering the facts of a run


def _exists(cur, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return bool(cur.fetchone()[0])


def dbt_target_path() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH") or PROJECT_ROOT / "target")


def dbt_test_outcomes(since: dt.datetime | None) -> tuple[list[str], list[str], list[str]]:
    """(risk failures, error-severity dq failures, warnings) from dbt's last run_results.json.

    A risk test is one under dbt_project/tests/risk/ or tagged `risk`. Results older than `since` belong to
    an earlier run and are ignored.
    """
    target = dbt_target_path()
    try:
        results = json.loads((target / "run_results.json").read_text())
    except (OSError, ValueError):
        return [], [], []
    generated = results.get("metadata", {}).get("generated_at")
    if since is not None and generated:
        stamp = dt.datetime.fromisoformat(generated.replace("Z", "+00:00"))
        if stamp < since:
            return [], [], []
    try:
        nodes = json.loads((target / "manifest.json").read_text()).get("nodes", {})
    except (OSError, ValueError):
        nodes = {}
    risk, errors, warnings = [], [], []
    for result in results.get("results", []):
        uid = result.get("unique_id", "")
        if not uid.startswith("test."):
            continue
        node = nodes.get(uid, {})
        name = node.get("name") or uid.split(".")[2]
        is_risk = "/risk/" in node.get("original_file_path", "") or "risk" in node.get("tags", [])
        status = result.get("status")
        if status in ("fail", "error"):
            (risk if is_risk else errors).append(name)
        elif status == "warn":
            warnings.append(name)
    return risk, errors, warnings


def gather(url: DbUrl, run_id: str) -> RunFacts:
    """Read what the run wrote. Missing marts (not built yet) simply leave their facts empty."""
    facts = RunFacts(run_id=run_id)
    t = Thresholds()
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "select job_name, status, coalesce(error, ''), started_at, finished_at from ops.job_log "
            "where run_id = %s order by id",
            (run_id,),
        )
        jobs = cur.fetchall()
        facts.failed_jobs = [(j, e) for j, s, e, _, _ in jobs if s == "failed"]
        facts.partial_jobs = [j for j, s, _, _, _ in jobs if s == "partial"]
        started = min((r[3] for r in jobs), default=None)
        finished = max((r[4] for r in jobs if r[4] is not None), default=None)
        if started and finished:
            facts.duration_s = (finished - started).total_seconds()
        cur.execute("select max(peak_rss_mb), sum(log_errors) from ops.run_metrics where run_id = %s", (run_id,))
        peak, _ = cur.fetchone()
        facts.peak_rss_mb = peak
        cur.execute("select provider, endpoint, latency_ms, status from ops.api_calls where run_id = %s", (run_id,))
        for provider, endpoint, latency_ms, status in cur.fetchall():
            if latency_ms / 1000 > t.api_latency_s:
                facts.slow_calls.append((provider, endpoint, latency_ms / 1000))
            if status == 429:
                facts.rate_limited.append((provider, endpoint))
        built = any(j.startswith(BUILD_JOBS) for j, *_ in jobs)
        if built:
            _gather_marts(cur, facts, run_id)
            risk, errors, warnings = dbt_test_outcomes(started)
            facts.risk_failures, facts.dq_errors, facts.dq_warnings = risk, errors, warnings
    conn.close()
    facts.log_errors = logs.write_errors()
    return facts


def completeness(cur) -> tuple[float | None, str | None, list[str]]:
    """Share of the active universe with a bar on the latest session of bars_daily."""
    if not (_exists(cur, "marts.bars_daily") and _exists(cur, "marts.symbols")):
        return None, None, []
    cur.execute(
        """
        with latest as (select max(d) as d from marts.bars_daily)
        select
            (select d from latest),
            count(*),
            array_remove(array_agg(case when b.symbol is null then s.symbol end order by s.symbol), null)
        from marts.symbols as s
        left join marts.bars_daily as b on b.symbol = s.symbol and b.d = (select d from latest)
        where s.is_active
        """
    )
    session, total, missing = cur.fetchone()
    if not total or session is None:
        return None, None, []
    return (total - len(missing)) / total, session.isoformat(), list(missing)


def _gather_marts(cur, facts: RunFacts, run_id: str) -> None:
    facts.completeness, facts.session, facts.missing_symbols = completeness(cur)
    if not _exists(cur, "marts.symbols"):
        return
    cur.execute(
        "select coalesce(array_agg(symbol order by symbol), '{}') from marts.symbols "
        "where is_active and coalesce(asset_class, 'equity') <> 'etf'"
    )
    current = set(cur.fetchone()[0])
    cur.execute("select symbols from ops.universe_snapshots order by id desc limit 1")
    previous = cur.fetchone()
    if previous is not None:
        before = set(previous[0])
        facts.universe_added = sorted(current - before)
        facts.universe_removed = sorted(before - current)
    if previous is None or facts.universe_added or facts.universe_removed:
        cur.execute("insert into ops.universe_snapshots (run_id, symbols) values (%s, %s)", (run_id, sorted(current)))


def evaluate_run(url: DbUrl, run_id: str) -> list[Alert]:
    """Gather, evaluate and emit: what job_step calls when the outermost step of a run ends."""
    try:
        facts = gather(url, run_id)
    except Exception as exc:  # noqa: BLE001 - the database may be the thing that is down
        facts = RunFacts(run_id=run_id, failed_jobs=[("alerts", f"could not read the run's facts: {exc}")])
        facts.log_errors = logs.write_errors()
        return emit(None, evaluate(facts), run_id)
    return emit(url, evaluate(facts), run_id)


def recent_alerts(cur, run_id: str | None = None, hours: int = 24) -> list[dict]:
    if run_id:
        cur.execute("select raised_at, tier, code, message from ops.alerts where run_id = %s order by id", (run_id,))
    else:
        cur.execute(
            "select raised_at, tier, code, message from ops.alerts "
            "where raised_at >= now() - make_interval(hours => %s) order by id",
            (hours,),
        )
    return [dict(zip(("raised_at", "tier", "code", "message"), row, strict=True)) for row in cur.fetchall()]


def as_dict(alert: Alert) -> dict:
    return asdict(alert)
