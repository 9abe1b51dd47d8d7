{{ config(materialized='view') }}

-- The open positions of the ledger's latest day (empty when the account is flat).
with

positions_daily as (

    select * from {{ ref('positions_daily') }}

),

ledger as (

    select * from {{ ref('ledger') }}

),

latest as (

    select max(d) as d
    from ledger
    where record_type = 'day'

),

final as (

    select positions_daily.*
    from positions_daily
    inner join latest
        on positions_daily.d = latest.d

)

select * from final
