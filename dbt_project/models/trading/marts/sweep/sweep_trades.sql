{{ config(materialized='view') }}

-- Each sweep run's round trips over the whole window, in the columns of backtest_trades.
select * from {{ ref('int_sweep_trades') }}
where block = 0
