{{ config(materialized='view') }}

-- Market value per sector at each close and its weight of that day's equity (the sector cap's measure).
with

by_sector as (

    select
        d,
        sector,
        count(*) as n_positions,
        sum(market_value) as market_value

    from {{ ref('positions_daily') }}
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
    inner join {{ ref('portfolio_daily') }} as days
        on by_sector.d = days.d

)

select * from final
