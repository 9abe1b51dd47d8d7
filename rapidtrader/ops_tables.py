"""Operational tables the Python jobs write: job_log (the runbook's runtime query reads it verbatim),
per-symbol ingestion failures and per-run metrics. dbt reads them as sources; it never writes them."""

from __future__ import annotations

OPS_DDL = [
    """
    create table if not exists ops.job_log (
        id bigserial primary key,
        run_id text not null,
        job_name text not null,
        started_at timestamptz not null default now(),
        finished_at timestamptz,
        status text not null default 'running'
            check (status in ('running', 'success', 'failed', 'partial')),
        rows bigint,
        error text,
        details jsonb not null default '{}'::jsonb
    )
    """,
    "create index if not exists job_log_job_started on ops.job_log (job_name, started_at desc)",
    """
    create table if not exists ops.ingest_failures (
        id bigserial primary key,
        run_id text not null,
        source text not null,
        symbol text not null,
        error text not null,
        recorded_at timestamptz not null default now()
    )
    """,
    # Operations (issue 5): per-step run metrics, every provider call, alerts, universe snapshots.
    """
    create table if not exists ops.run_metrics (
        id bigserial primary key,
        run_id text not null,
        job_name text not null,
        status text not null,
        duration_s double precision,
        peak_rss_mb double precision,
        rows bigint,
        api_calls integer not null default 0,
        api_errors integer not null default 0,
        api_rate_limited integer not null default 0,
        api_latency_avg_ms double precision,
        api_latency_max_ms double precision,
        log_errors integer not null default 0,
        recorded_at timestamptz not null default now()
    )
    """,
    "create index if not exists run_metrics_run on ops.run_metrics (run_id)",
    """
    create table if not exists ops.api_calls (
        id bigserial primary key,
        run_id text not null,
        job_name text not null,
        provider text not null,
        method text not null,
        endpoint text not null,
        status integer,
        latency_ms double precision not null,
        error text,
        called_at timestamptz not null default now()
    )
    """,
    "create index if not exists api_calls_run on ops.api_calls (run_id)",
    """
    create table if not exists ops.alerts (
        id bigserial primary key,
        raised_at timestamptz not null default now(),
        run_id text,
        tier text not null check (tier in ('critical', 'warning', 'info')),
        code text not null,
        message text not null,
        details jsonb not null default '{}'::jsonb,
        webhook_status text
    )
    """,
    "create index if not exists alerts_raised on ops.alerts (raised_at desc)",
    """
    create table if not exists ops.universe_snapshots (
        id bigserial primary key,
        run_id text not null,
        captured_at timestamptz not null default now(),
        symbols text[] not null
    )
    """,
]


def create_ops_tables(cur) -> None:
    """Idempotent: safe on every start."""
    for statement in OPS_DDL:
        cur.execute(statement)
