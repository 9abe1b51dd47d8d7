{{ config(materialized='view') }}

-- ENTRY (a buy filled), EXIT (a sell filled) and STOP_HIT (the ATR stop fired) per symbol and day. A slice
-- of the ledger.
select
    d,
    symbol,
    event

from {{ ref('ledger') }}
where record_type = 'event'
