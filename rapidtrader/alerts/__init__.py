"""Alerts after every run: the runbook's thresholds applied to what the run left behind.

Tiers (settings in brackets, runbook defaults):
- critical: a job failed or was killed; the database could not be reached when a run started; the run took
  longer than RT_ALERT_RUNTIME_CRITICAL_MIN (45 min); dbt failed the coverage test of the session
  (dq_symbol_coverage, error tier RT_DQ_COVERAGE_ERROR_PCT); a risk-limit test failed (the orders were not
  published); another error-severity dbt test failed; the log folder could not be written.
- warning: the run took longer than RT_ALERT_RUNTIME_WARN_MIN (30 min); dbt warned on coverage (warn tier
  RT_DQ_COVERAGE_WARN_PCT); peak memory over RT_ALERT_MEMORY_MB (1536 MB = 1.5 GB); a provider call slower
  than RT_ALERT_API_LATENCY_S (10 s); a provider rate limit (HTTP 429); a job finished partial; a run
  could not start because another run held the warehouse; a warn-severity dbt test.
- info: symbols that joined or left the S&P 500 universe since the previous run.

Data quality is judged by dbt alone (dbt_project/tests/dq); the alerts carry its verdicts.

One idea per module: `model` (what an alert is), `facts` (what a run left behind), `rules` (facts ->
alerts), `delivery` (log -> webhook -> table), `store` (ops.alerts), `universe` (universe snapshots).
"""

from __future__ import annotations

from rapidtrader import logs
from rapidtrader.alerts.delivery import emit, post_webhook
from rapidtrader.alerts.facts import RunFacts, gather
from rapidtrader.alerts.model import LEVELS, TIERS, Alert
from rapidtrader.alerts.rules import Thresholds, evaluate
from rapidtrader.db import DbUrl

__all__ = [
    "LEVELS",
    "TIERS",
    "Alert",
    "RunFacts",
    "Thresholds",
    "emit",
    "evaluate",
    "evaluate_run",
    "gather",
    "post_webhook",
]


def evaluate_run(url: DbUrl, run_id: str) -> list[Alert]:
    """Gather, evaluate and emit: what job_step calls when the outermost step of a run ends."""
    t = Thresholds()
    try:
        facts = gather(url, run_id, t.api_latency_s)
    except Exception as exc:  # noqa: BLE001 - the database may be the thing that is down
        facts = RunFacts(run_id=run_id, failed_jobs=[("alerts", f"could not read the run's facts: {exc}")])
        facts.log_errors = logs.write_errors()
        return emit(None, evaluate(facts, t), run_id)
    return emit(url, evaluate(facts, t), run_id)
