-- The universe with sectors (FMP's list when loaded, else the bundled snapshot) plus SPY and the sector
-- ETFs. is_tradable marks what the order step may buy: an equity of the current universe with a sector.
with

universe as (

    select * from {{ ref('int_universe') }}

),

etfs as (

    select * from {{ ref('market_symbols') }}

),

first_bars as (

    select
        symbol,
        min(d) as first_d,
        max(d) as last_d,
        count(*) as n_bars

    from {{ ref('bars_daily') }}
    group by symbol

),

listed as (

    select
        symbol,
        name,
        sector,
        sub_industry,
        date_added,
        'equity' as asset_class,
        sector_source,
        true as is_active

    from universe

    union all

    select
        symbol,
        name,
        tracks_sector as sector,
        null as sub_industry,
        null::date as date_added,
        asset_class,
        'seed' as sector_source,
        true as is_active

    from etfs
    where etfs.symbol not in (select universe.symbol from universe)

),

final as (

    select
        listed.*,
        listed.asset_class = 'equity' and listed.sector is not null as is_tradable,
        first_bars.first_d,
        first_bars.last_d,
        coalesce(first_bars.n_bars, 0) as n_bars

    from listed
    left join first_bars
        on listed.symbol = first_bars.symbol

)

select * from final
