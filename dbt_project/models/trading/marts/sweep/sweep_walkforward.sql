{{ config(materialized='view') }}

-- Walk-forward of the sweeps built with FOLDS=k: the window's sessions split into k+1 consecutive blocks
-- (int_sweep_ledger), fold i picks the run with the best Sharpe on block i (ties: the lower run_id; a run
-- with no Sharpe is never preferred) and reports that run's figures on block i+1, each block traded from
-- the run's capital with no positions. chained_oos_return compounds the out-of-sample returns of folds
-- 1..i.
with

metrics as (

    select * from {{ ref('int_sweep_metrics') }}
    where block > 0 and portfolio = 'strategy'

),

last_blocks as (

    select
        sweep_id,
        max(block) as last_block

    from metrics
    group by sweep_id

),

in_sample as (

    select
        metrics.*,
        row_number() over (
            partition by metrics.sweep_id, metrics.block order by metrics.sharpe desc nulls last, metrics.run_id asc
        ) as pick

    from metrics
    inner join last_blocks
        on metrics.sweep_id = last_blocks.sweep_id
    where metrics.block < last_blocks.last_block

),

folds as (

    select
        in_sample.sweep_id,
        in_sample.block as fold,
        in_sample.first_d as is_first_d,
        in_sample.last_d as is_last_d,
        in_sample.run_id,
        in_sample.sharpe as is_sharpe,
        out_of_sample.first_d as oos_first_d,
        out_of_sample.last_d as oos_last_d,
        out_of_sample.n_days as oos_n_days,
        out_of_sample.total_return as oos_total_return,
        out_of_sample.cagr as oos_cagr,
        out_of_sample.sharpe as oos_sharpe,
        out_of_sample.sortino as oos_sortino,
        out_of_sample.max_drawdown as oos_max_drawdown,
        out_of_sample.n_trades as oos_n_trades

    from in_sample
    inner join metrics as out_of_sample
        on
            in_sample.sweep_id = out_of_sample.sweep_id
            and in_sample.block + 1 = out_of_sample.block
            and in_sample.run_id = out_of_sample.run_id
    where in_sample.pick = 1

),

final as (

    select
        *,
        exp(sum(ln(1 + oos_total_return)) over (partition by sweep_id order by fold)) - 1 as chained_oos_return

    from folds

)

select * from final
