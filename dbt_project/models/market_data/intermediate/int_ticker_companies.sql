-- Every ticker a company traded under, and the company's ticker of today: one row per (symbol,
-- company_symbol). Ticker changes come from the vendor (FMP) where it has them, else from the file source
-- (the bundled ticker_changes.csv and the renames in the pitindex data); a chain of changes (A -> B -> C)
-- is followed forward to today's ticker. Tickers that never changed are their own company.
with recursive

vendor_changes as (

    select * from {{ ref('stg_fmp__ticker_changes') }}

),

file_changes as (

    select * from {{ ref('stg_sample__ticker_changes') }}

),

changes as (

    select distinct on (old_symbol)
        old_symbol,
        new_symbol,
        d

    from (
        select
            old_symbol,
            new_symbol,
            d,
            1 as preference
        from vendor_changes
        union all
        select
            old_symbol,
            new_symbol,
            d,
            2 as preference
        from file_changes
    ) as both_sources
    where old_symbol != new_symbol
    order by old_symbol asc, preference asc, d desc

),

tickers as (

    select symbol from {{ ref('int_membership_intervals') }}
    union
    select symbol from {{ ref('int_universe') }}
    union
    select old_symbol from changes
    union
    select new_symbol from changes

),

walk (symbol, company_symbol, depth) as (

    select
        symbol,
        symbol as company_symbol,
        0 as depth

    from tickers

    union all

    select
        walk.symbol,
        changes.new_symbol,
        walk.depth + 1

    from walk
    inner join changes
        on walk.company_symbol = changes.old_symbol
    where walk.depth < 20

),

final as (

    select distinct on (symbol)
        symbol,
        company_symbol

    from walk
    order by symbol asc, depth desc

)

select * from final
