"""The runbook's alert rules: the facts of one run in, alerts out. Pure, so each tier is tested alone.

Runtime, memory and provider latency are rules of the run and have their thresholds here (RT_ALERT_*
settings). Data quality is not: whether coverage, prices or volumes warn or fail is dbt's verdict
(dbt_project/tests/dq, tiers RT_DQ_*), which the facts carry and these rules only turn into alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidtrader.alerts.facts import RunFacts
from rapidtrader.alerts.model import Alert
from rapidtrader.settings import get_settings


def _setting(attr: str):
    return lambda: getattr(get_settings(), attr)


@dataclass(frozen=True)
class Thresholds:
    """The run's own thresholds; defaults from the RT_ALERT_* settings."""

    runtime_warn_min: float = field(default_factory=_setting("alert_runtime_warn_min"))
    runtime_critical_min: float = field(default_factory=_setting("alert_runtime_critical_min"))
    memory_mb: float = field(default_factory=_setting("alert_memory_mb"))
    api_latency_s: float = field(default_factory=_setting("alert_api_latency_s"))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _jobs(facts: RunFacts) -> list[Alert]:
    if facts.failed_jobs:
        inner = [j for j in facts.failed_jobs if j[0] != "eod_run"] or facts.failed_jobs
        job, error = inner[0]
        return [
            Alert(
                "critical",
                "job_failed",
                f"job {job} failed in run {facts.run_id}: {error}",
                {"failed_jobs": [j for j, _ in facts.failed_jobs]},
            )
        ]
    if facts.partial_jobs:
        return [Alert("warning", "job_partial", f"jobs finished partial: {', '.join(facts.partial_jobs)}", {})]
    return []


def _runtime(facts: RunFacts, t: Thresholds) -> list[Alert]:
    if facts.duration_s is None:
        return []
    minutes = facts.duration_s / 60
    for tier, limit in (("critical", t.runtime_critical_min), ("warning", t.runtime_warn_min)):
        if minutes > limit:
            message = f"run took {minutes:.1f} min (> {limit:g} min)"
            return [Alert(tier, "runtime", message, {"duration_s": facts.duration_s})]
    return []


def _coverage(facts: RunFacts) -> list[Alert]:
    """dbt's verdict on dq_symbol_coverage: fail is critical, warn a warning."""
    if facts.coverage_status not in ("warn", "fail"):
        return []
    tier = "critical" if facts.coverage_status == "fail" else "warning"
    shown = ", ".join(facts.missing_symbols[:10]) + (" ..." if len(facts.missing_symbols) > 10 else "")
    share = _pct(facts.completeness) if facts.completeness is not None else "unknown"
    return [
        Alert(
            tier,
            "completeness",
            f"data completeness {share} on {facts.session} (dq_symbol_coverage: {facts.coverage_status}); "
            f"missing: {shown}",
            {
                "completeness": facts.completeness,
                "session": facts.session,
                "missing_symbols": facts.missing_symbols[:50],
            },
        )
    ]


def _resources(facts: RunFacts, t: Thresholds) -> list[Alert]:
    out = []
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
    return out


def _tests(facts: RunFacts) -> list[Alert]:
    out = []
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
    return out


def _housekeeping(facts: RunFacts) -> list[Alert]:
    out = []
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


def evaluate(facts: RunFacts, t: Thresholds | None = None) -> list[Alert]:
    """Every alert the facts of a run call for, critical ones first within each group."""
    t = t or Thresholds()
    return [
        *_jobs(facts),
        *_runtime(facts, t),
        *_coverage(facts),
        *_resources(facts, t),
        *_tests(facts),
        *_housekeeping(facts),
    ]
