{{ config(materialized='view') }}

-- The runs of the sweep being built (var rt_sweep_id), each with the signal set it trades: runs whose
-- signal settings are equal share one set (signals are decided once per set and shard,
-- int_sweep_signals_shard_<n>), the shard of the ledger pass it goes to, and the run object the ledger
-- function reads, with that set and the run's market filter added, lean (the orders it placed and its last
-- day's positions, not every blocked candidate and every day's positions).
with

requests as (

    select * from {{ ref('stg_sweep__requests') }}
    where sweep_id = {{ var('rt_sweep_id') | int }}

),

numbered as (

    select
        *,
        (
            dense_rank() over (
                partition by sweep_id
                order by
                    rt_rsi_buy, rt_rsi_sell, rt_enable_signal_confirm, rt_confirm_window, rt_confirm_min_count,
                    rt_sma_fast, rt_sma_slow, rt_sma_confirm_days
            )
        )::integer as signal_set

    from requests

),

-- The shards of the ledger pass (macros/trading/sweep_ledger_shard.sql) take equal shares of the runs in
-- signal-set order, so each shard decides only the signal sets of its own runs (about half of them with
-- two shards) and a grid with a single set still splits evenly.
sharded as (

    select
        *,
        (
            (row_number() over (partition by sweep_id order by signal_set, run_id) - 1)
            * {{ sweep_ledger_shards() }}
            / count(*) over (partition by sweep_id)
        )::integer as ledger_shard

    from numbered

),

final as (

    select
        run_id,
        sweep_id,
        run_no,
        start_d,
        end_d,
        folds,
        signal_set,
        ledger_shard,
        rt_rsi_buy,
        rt_rsi_sell,
        rt_enable_signal_confirm = 1 as confirm_on,
        rt_confirm_window,
        rt_confirm_min_count,
        rt_sma_fast,
        rt_sma_slow,
        rt_sma_confirm_days,
        rt_market_filter_enable = 1 as market_filter,
        ledger_run || jsonb_build_object(
            'run_id', run_id, 'signal_set', signal_set, 'market_filter', rt_market_filter_enable = 1, 'lean', true
        ) as ledger_run

    from sharded

)

select * from final
