"""What a run left behind, gathered for the alert rules: its job_log rows, run metrics and provider calls,
and the verdicts its dbt steps recorded (ops.dbt_results, with the data-quality rows in schema dq).

Facts only: no threshold of a data-quality rule is applied here. Coverage arrives as dbt's verdict on
dq_symbol_coverage with the measure and symbols its stored rows carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidtrader import dq, logs
from rapidtrader.alerts import universe
from rapidtrader.db import DbUrl, connect
from rapidtrader.dbt_results import recorded_for_run


@dataclass
class RunFacts:
    run_id: str
    failed_jobs: list[tuple[str, str]] = field(default_factory=list)
    partial_jobs: list[str] = field(default_factory=list)
    duration_s: float | None = None
    peak_rss_mb: float | None = None
    # dbt's verdict on the session's coverage (pass, warn, fail) and what its stored rows say
    coverage_status: str | None = None
    completeness: float | None = None
    session: str | None = None
    missing_symbols: list[str] = field(default_factory=list)
    slow_calls: list[tuple[str, str, float]] = field(default_factory=list)
    rate_limited: list[tuple[str, str]] = field(default_factory=list)
    risk_failures: list[str] = field(default_factory=list)
    dq_errors: list[str] = field(default_factory=list)
    dq_warnings: list[str] = field(default_factory=list)
    universe_added: list[str] = field(default_factory=list)
    universe_removed: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)


def _jobs(cur, facts: RunFacts) -> list[tuple]:
    cur.execute(
        "select job_name, status, coalesce(error, ''), started_at, finished_at from ops.job_log "
        "where run_id = %s order by id",
        (facts.run_id,),
    )
    jobs = cur.fetchall()
    facts.failed_jobs = [(j, e) for j, s, e, _, _ in jobs if s == "failed"]
    facts.partial_jobs = [j for j, s, _, _, _ in jobs if s == "partial"]
    started = min((r[3] for r in jobs), default=None)
    finished = max((r[4] for r in jobs if r[4] is not None), default=None)
    if started and finished:
        facts.duration_s = (finished - started).total_seconds()
    return jobs


def _calls(cur, facts: RunFacts, api_latency_s: float) -> None:
    cur.execute("select max(peak_rss_mb) from ops.run_metrics where run_id = %s", (facts.run_id,))
    facts.peak_rss_mb = cur.fetchone()[0]
    cur.execute("select provider, endpoint, latency_ms, status from ops.api_calls where run_id = %s", (facts.run_id,))
    for provider, endpoint, latency_ms, status in cur.fetchall():
        if latency_ms / 1000 > api_latency_s:
            facts.slow_calls.append((provider, endpoint, latency_ms / 1000))
        if status == 429:
            facts.rate_limited.append((provider, endpoint))


def _verdicts(cur, facts: RunFacts) -> None:
    """Risk and data-quality outcomes of the run's dbt steps; coverage gets its own fact."""
    coverage = dq.find(dq.for_run(cur, facts.run_id), dq.COVERAGE)
    if coverage.status in ("pass", "warn", "fail"):
        facts.coverage_status = coverage.status
        # no stored row means no equity was missing
        facts.completeness = 1.0 if coverage.measure is None else 1 - coverage.measure / 100
        facts.session = coverage.session.isoformat() if coverage.session else None
        facts.missing_symbols = coverage.symbols
    for r in recorded_for_run(cur, facts.run_id):
        if r.resource_type != "test" or (r.name == dq.COVERAGE.test and facts.coverage_status):
            continue
        if r.failed:
            (facts.risk_failures if r.kind == "risk" else facts.dq_errors).append(r.name)
        elif r.status == "warn":
            facts.dq_warnings.append(r.name)


def gather(url: DbUrl, run_id: str, api_latency_s: float) -> RunFacts:
    """Read what the run wrote. Steps the run did not reach simply leave their facts empty."""
    facts = RunFacts(run_id=run_id)
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            jobs = _jobs(cur, facts)
            _calls(cur, facts, api_latency_s)
            _verdicts(cur, facts)
            if any(j.startswith(universe.BUILD_JOBS) for j, *_ in jobs):
                facts.universe_added, facts.universe_removed = universe.changes(cur, run_id)
    finally:
        conn.close()
    facts.log_errors = logs.write_errors()
    return facts
