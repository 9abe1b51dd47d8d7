{{ config(materialized='view') }}

-- Each sweep run's fills, stops and delistings over the whole window, in the columns of fills.
select
    sweep_id,
    run_id,
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

from {{ ref('int_sweep_ledger') }}
where block = 0 and record_type = 'fill'
