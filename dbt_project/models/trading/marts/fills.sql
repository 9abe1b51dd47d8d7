{{ config(materialized='view') }}

-- What happened to each order at the next open, and the stops: filled, expired (no bar that day, or never
-- published) or rejected_cash (not even one share affordable). A slice of the ledger.
select
    d,
    seq,
    symbol,
    side,
    qty,
    ordered_qty,
    price,
    qty * price as value,
    status

from {{ ref('ledger') }}
where record_type = 'fill'
