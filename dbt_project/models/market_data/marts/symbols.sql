-- The universe with sectors (FMP's list when loaded, else the bundled snapshot), every ticker of a past or
-- present index member (universe_membership; its sector is its company's), plus SPY and the sector ETFs.
-- is_tradable marks what the order step may buy on a day the symbol is an index member: an equity with a
-- sector. is_current_member marks the latest constituent list (RT_UNIVERSE_MODE=current).
with

universe as (

    select * from {{ ref('int_universe') }}

),

etfs as (

    select * from {{ ref('market_symbols') }}

),

membership as (

    select * from {{ ref('universe_membership') }}

),

companies as (

    select * from {{ ref('int_ticker_companies') }}

),

-- a past ticker or a past member takes the sector of its company from the latest list
company_sectors as (

    select distinct on (companies.company_symbol)
        companies.company_symbol,
        universe.sector,
        universe.sub_industry

    from companies
    inner join universe
        on companies.symbol = universe.symbol
    order by companies.company_symbol asc, universe.symbol = companies.company_symbol desc, universe.symbol asc

),

past_members as (

    select distinct
        membership.symbol,
        membership.company_symbol

    from membership
    where
        membership.symbol not in (select universe.symbol from universe)
        and membership.symbol not in (select etfs.symbol from etfs)

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
        past_members.symbol,
        null as name,
        company_sectors.sector,
        company_sectors.sub_industry,
        null::date as date_added,
        'equity' as asset_class,
        case when company_sectors.sector is not null then 'company' end as sector_source,
        false as is_active

    from past_members
    left join company_sectors
        on past_members.company_symbol = company_sectors.company_symbol

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
        listed.asset_class = 'equity' and listed.is_active as is_current_member,
        first_bars.first_d,
        first_bars.last_d,
        coalesce(first_bars.n_bars, 0) as n_bars

    from listed
    left join first_bars
        on listed.symbol = first_bars.symbol

)

select * from final
