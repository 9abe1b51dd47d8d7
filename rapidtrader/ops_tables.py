"""Operational tables the Python jobs write: job_log (the runbook's runtime query reads it verbatim),
per-symbol ingestion failures, per-run metrics, every provider call, alerts, universe snapshots and dbt's
verdicts. dbt reads them as sources; it never writes them.

Every text these tables keep may quote a provider's answer, and answers quote request URLs with the API
key in them. The writers redact (rapidtrader.redact); a trigger on each table masks key-like URL
parameters and URL passwords once more, so a writer that forgets cannot store a key that sits in a URL.
"""

from __future__ import annotations

OPS_DDL = [
    # The runs a parameter sweep asked for (rapidtrader.jobs.sweep writes them before its dbt build): each
    # run's settings as dbt vars and as the ledger function's run object; the sweep marts read them.
    """
    create table if not exists ops.sweep_requests (
        run_id integer primary key,
        sweep_id integer not null,
        run_no integer not null,
        start_d date not null,
        end_d date,
        folds integer not null default 0 check (folds >= 0),
        grid_names text[] not null,
        settings jsonb not null,
        ledger_run jsonb not null,
        requested_at timestamptz not null default now(),
        unique (sweep_id, run_no)
    )
    """,
    # Sweep and run ids are never issued twice, even after `jobs.sweep --drop` removed the newest sweep's
    # rows (a max + 1 would give its id again, and the new sweep's page would overwrite the old one's)
    "create sequence if not exists ops.sweep_ids",
    "create sequence if not exists ops.sweep_run_ids",
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
    # What each step cost (duration, memory, rows, provider calls): the runtime and memory alerts read it.
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
    """
    create table if not exists ops.seed_checksums (
        seed text primary key,
        sha256 text not null,
        loaded_at timestamptz not null default now()
    )
    """,
    # What the last successful nightly build read and left (rapidtrader.build_inputs): a night that finds
    # the same skips its build. One row; every dbt build, run, seed or snapshot deletes it as it starts.
    """
    create table if not exists ops.nightly_build_inputs (
        run_id text not null,
        code_and_settings text not null,
        raw text not null,
        warehouse text not null,
        recorded_at timestamptz not null default now()
    )
    """,
    # dbt's verdicts per node, copied from run_results.json by the step that ran dbt (rapidtrader.dbt_results):
    # the file is overwritten by every dbt command and shared by every database the project folder builds.
    """
    create table if not exists ops.dbt_results (
        id bigserial primary key,
        run_id text not null,
        job_name text not null,
        invocation_id text,
        generated_at timestamptz,
        unique_id text not null,
        name text not null,
        resource_type text not null,
        kind text not null,
        status text not null,
        failures bigint,
        message text,
        recorded_at timestamptz not null default now()
    )
    """,
    "create index if not exists dbt_results_run on ops.dbt_results (run_id)",
    # seconds of each node: where a night's time goes (`make eod` prints the slowest)
    "alter table ops.dbt_results add column if not exists execution_s double precision",
    "create index if not exists dbt_results_node on ops.dbt_results (unique_id, id desc)",
]

# The patterns of rapidtrader.redact (SECRET_PARAM, URL_PASSWORD) in Postgres regular-expression syntax.
# rt_redact_json keeps to the `name=value` form and stops at quotes and backslashes: `=` only occurs inside
# JSON strings, so masking can never break the document's structure.
REDACT_FUNCTIONS = r"""
create or replace function ops.rt_redact(t text) returns text
language sql immutable as $fn$
    select regexp_replace(
        regexp_replace(
            t,
            '(\m(api[_-]?key|apikey|access[_-]?token|token|password|passwd|secret|key)["'']?\s*[=:]\s*["'']?)'
            || '[^&\s''"),;}<>]+',
            '\1***',
            'gi'
        ),
        '(\m[a-z][a-z0-9+.-]*://[^:/@\s''"]*:)[^@/\s''"]+(@)',
        '\1***\2',
        'gi'
    )
$fn$;

create or replace function ops.rt_redact_json(t text) returns text
language sql immutable as $fn$
    select regexp_replace(
        regexp_replace(
            t,
            '(\m(api[_-]?key|apikey|access[_-]?token|token|password|passwd|secret|key)=)[^&\s"\\),;}<>]+',
            '\1***',
            'gi'
        ),
        '(\m[a-z][a-z0-9+.-]*://[^:/@\s"\\]*:)[^@/\s"\\]+(@)',
        '\1***\2',
        'gi'
    )
$fn$
"""

# Text columns redacted on every insert and update, per table.
REDACTED_COLUMNS = {
    "job_log": ("error",),
    "ingest_failures": ("error",),
    "api_calls": ("endpoint", "error"),
    "alerts": ("message",),
    "dbt_results": ("message",),
}
REDACTED_JSON = {"job_log": "details", "alerts": "details"}


def _trigger_function(table: str) -> str:
    sets = "\n".join(f"    new.{c} := ops.rt_redact(new.{c});" for c in REDACTED_COLUMNS[table])
    json_column = REDACTED_JSON.get(table)
    if json_column:
        sets += f"\n    new.{json_column} := ops.rt_redact_json(new.{json_column}::text)::jsonb;"
    return f"""
create or replace function ops.rt_redact_{table}() returns trigger
language plpgsql as $fn$
begin
{sets}
    return new;
end
$fn$
"""


def create_ops_tables(cur) -> None:
    """Idempotent: safe on every start. Triggers are only created when missing (creating one locks its
    table, which a running job may be writing)."""
    for statement in OPS_DDL:
        cur.execute(statement)
    cur.execute(REDACT_FUNCTIONS)
    for table in REDACTED_COLUMNS:
        cur.execute(_trigger_function(table))
        cur.execute(
            "select 1 from pg_trigger where tgname = %s and tgrelid = %s::regclass",
            (f"rt_redact_{table}", f"ops.{table}"),
        )
        if cur.fetchone() is None:
            cur.execute(
                f"create trigger rt_redact_{table} before insert or update on ops.{table} "
                f"for each row execute function ops.rt_redact_{table}()"
            )
