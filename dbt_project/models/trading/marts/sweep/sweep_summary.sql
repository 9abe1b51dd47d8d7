{{ config(materialized='view') }}

-- Each sweep run's backtest report over the whole window, in the columns of backtest_summary: one row for
-- the strategy and one for the benchmark bought and held over the same days.
select * from {{ ref('int_sweep_metrics') }}
where block = 0
