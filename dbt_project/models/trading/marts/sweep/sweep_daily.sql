{{ config(materialized='view') }}

-- Each sweep run's day over the whole window: cash, equity, exposure, drawdown from its running peak, and
-- the benchmark (RT_BENCHMARK_SYMBOL) bought and held with the same starting equity.
select
    sweep_id,
    run_id,
    d,
    cash,
    equity,
    market_value,
    exposure,
    (equity / max(equity) over (partition by sweep_id, run_id order by d) - 1)::float8 as drawdown,
    traded_value,
    commission,
    slippage,
    benchmark_equity

from {{ ref('int_sweep_daily') }}
where block = 0
