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
]


def create_ops_tables(cur) -> None:
    """Idempotent: safe on every start."""
    for statement in OPS_DDL:
        cur.execute(statement)
