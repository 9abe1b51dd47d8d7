{{ config(materialized='view') }}

-- ENTRY (a buy filled), EXIT (a sell filled) and STOP_HIT (the ATR stop fired) per symbol and day.
with

ledger as (

    select * from {{ ref('ledger') }}

),

final as (

    select
        d,
        symbol,
        event

    from ledger
    where record_type = 'event'

)

select * from final
