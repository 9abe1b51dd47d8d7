{{ config(materialized='view') }}

-- What happened to each order at the next open, and the stops: filled, expired (no bar that day) or
-- rejected_cash (not even one share affordable).
with

ledger as (

    select * from {{ ref('ledger') }}

),

final as (

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

    from ledger
    where record_type = 'fill'

)

select * from final
