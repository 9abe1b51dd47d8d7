{#
    The sweep's ledger pass over one shard of its runs: the runs whose int_sweep_runs.ledger_shard is
    `shard` (equal shares of the runs in signal-set order). Runs are independent, so each shard is its own
    call of the ledger function in its own model, and dbt builds the shards at once, one database backend
    each (the function is one plpgsql call, so one call works one core). int_sweep_ledger is their union.
    Every shard decides the signal sets of its runs when it starts (int_sweep_signals_shard_<shard> is a
    view); a set split between two shards is decided by both, so more shards than cores cost more than they
    save.
#}

{#- how many shards: one model int_sweep_ledger_shard_<n> for each n in 0 .. sweep_ledger_shards() - 1 -#}
{% macro sweep_ledger_shards() %}{{ return(2) }}{% endmacro %}


{% macro sweep_ledger_shard(shard) %}
{{ sweep_stored_config(['sweep_id', 'block', 'run_id', 'record_type', 'd']) }}
-- The ledgers of the sweep being built: every run advanced together through the days by the one ledger
-- function of the nightly ledger and the backtest (set-based over run and symbol), in one call per block:
-- block 0 is the whole window (what `make backtest` of that run gives), and with FOLDS=k blocks 1..k+1
-- split the window's sessions into k+1 consecutive stretches of equal session count (the remainder goes to
-- the last), each traded from the run's capital with no positions (the walk-forward's in- and
-- out-of-sample periods). Each sweep's rows replace only that sweep's (incremental on sweep_id).
with

runs as (

    select * from {{ ref('int_sweep_runs') }}
    where ledger_shard = {{ shard }}

),

sweep as (

    select
        sweep_id,
        min(start_d) as start_d,
        coalesce(max(end_d), 'infinity'::date) as end_d,
        max(folds) as folds,
        jsonb_agg(ledger_run order by run_id) as ledger_runs

    from runs
    group by sweep_id

),

-- the ledger's calendar: the days with bars (market_state has one row per such day)
sessions as (

    select
        market.d,
        (row_number() over (order by market.d))::integer as session_no,
        (count(*) over ())::integer as n_sessions

    from {{ ref('market_state') }} as market
    cross join sweep
    where market.d >= sweep.start_d and market.d <= sweep.end_d

),

walk_forward_sessions as (

    select
        sessions.d,
        least(
            (sessions.session_no - 1) / (sessions.n_sessions / (sweep.folds + 1)) + 1, sweep.folds + 1
        ) as block

    from sessions
    cross join sweep
    where sweep.folds > 0 and sessions.n_sessions >= sweep.folds + 1

),

blocks as (

    select
        0 as block,
        min(d) as start_d,
        max(d) as end_d

    from sessions

    union all

    select
        block,
        min(d) as start_d,
        max(d) as end_d

    from walk_forward_sessions
    group by block

),

ledger as (

    select
        sweep.sweep_id,
        blocks.block,
        advanced.run_id,
        -- the ledger row's columns, named by its type
        (advanced.entry).*  -- noqa: AL03

    from sweep
    cross join blocks
    cross join
        lateral udf.rt_ledger_advance_v2(
            p_bars => {{ rt_literal(ref('bars_daily')) }},
            p_signals => {{ rt_literal(ref('int_sweep_signals_shard_' ~ shard)) }},
            p_market => {{ rt_literal(ref('market_state')) }},
            p_symbols => {{ rt_literal(ref('symbols')) }},
            p_membership => {{ rt_literal(ref('universe_membership')) }},
            p_state => null,
            p_start => blocks.start_d,
            p_end => blocks.end_d,
            p_runs => sweep.ledger_runs,
            p_publish_last => true
        ) as advanced
    where blocks.start_d is not null

)

select * from ledger
{% endmacro %}
