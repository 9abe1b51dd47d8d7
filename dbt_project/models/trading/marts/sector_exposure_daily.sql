{{ config(materialized='view') }}

-- Market value per sector at each close and its weight of that day's equity (the sector cap's measure).
with

ledger as (

    select * from {{ ref('ledger') }}

),

days as (

    select
        d,
        equity

    from ledger
    where record_type = 'day'

),

by_sector as (

    select
        d,
        sector,
        count(*) as n_positions,
        sum(market_value) as market_value

    from ledger
    where record_type = 'position'
    group by d, sector

),

final as (

    select
        by_sector.d,
        by_sector.sector,
        by_sector.n_positions,
        by_sector.market_value,
        (by_sector.market_value / nullif(days.equity, 0))::float8 as weight

    from by_sector
    inner join days
        on by_sector.d = days.d

)

select * from final
