{{ config(materialized='view') }}

-- Open positions at each day's close, marked at the close (the last known close when no bar that day).
with

ledger as (

    select * from {{ ref('ledger') }}

),

final as (

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

    from ledger
    where record_type = 'position'

)

select * from final
