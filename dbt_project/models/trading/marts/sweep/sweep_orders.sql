{{ config(materialized='view') }}

-- Each sweep run's orders for the next open over the whole window, in the columns of orders_eod: what
-- `make backtest` of that run proposes (blocked candidates keep qty 0 and their reason).
select
    sweep_id,
    run_id,
    d,
    symbol,
    side,
    qty,
    'market' as order_type,
    price as ref_price,
    reason,
    strategy,
    rank,
    size,
    strength,
    sector

from {{ ref('int_sweep_ledger') }}
where block = 0 and record_type = 'order'
