{{ config(materialized='view') }}

-- What happened to each order at the next open, the stops and the delistings: filled, expired (no bar
-- that day, or never published), rejected_cash, rejected_volume or delisted; with what the fill paid in
-- commission and lost to slippage. A slice of the ledger.
select
    d,
    seq,
    symbol,
    side,
    qty,
    ordered_qty,
    price,
    qty * price as value,
    status,
    coalesce(commission, 0) as commission,
    coalesce(slippage, 0) as slippage

from {{ ref('ledger') }}
where record_type = 'fill'
