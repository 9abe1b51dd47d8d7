{{ config(materialized='view') }}

-- Open positions at each day's close, marked at the close (the last known close when no bar that day).
-- A slice of the ledger.
select
    d,
    symbol,
    qty,
    entry_d,
    entry_price,
    stop_price,
    close,
    market_value,
    sector

from {{ ref('ledger') }}
where record_type = 'position'
