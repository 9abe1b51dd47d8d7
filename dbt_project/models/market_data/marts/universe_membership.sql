-- S&P 500 membership: a symbol is a member on day D when added_d <= D and (removed_d is null or
-- D < removed_d). Membership follows the company: the intervals of every ticker a company had are merged,
-- and listed under each of those tickers, so bars carrying the ticker of their time (PCLN in 2014) and
-- bars a vendor re-labelled with today's ticker (BKNG in 2014) both find it. company_symbol is today's
-- ticker; source says where the interval came from (pitindex, fmp, or a user's file).
with

intervals as (

    select * from {{ ref('int_membership_intervals') }}

),

companies as (

    select * from {{ ref('int_ticker_companies') }}

),

company_intervals as (

    select
        companies.company_symbol,
        intervals.added_d,
        coalesce(intervals.removed_d, 'infinity'::date) as removed_d,
        intervals.source

    from intervals
    inner join companies
        on intervals.symbol = companies.symbol

),

-- gaps and islands: an interval that starts on or before the running end of the earlier ones continues
-- the same island (a rename is a removal and an addition on the same day)
flagged as (

    select
        *,
        case
            when added_d <= max(removed_d) over earlier then 0
            else 1
        end as starts_island

    from company_intervals

    window earlier as (
        partition by company_symbol order by added_d, removed_d
        rows between unbounded preceding and 1 preceding
    )

),

islands as (

    select
        *,
        sum(starts_island) over (partition by company_symbol order by added_d, removed_d) as island

    from flagged

),

merged as (

    select
        company_symbol,
        min(added_d) as added_d,
        max(removed_d) as removed_d,
        string_agg(distinct source, '+' order by source) as source

    from islands
    group by company_symbol, island

),

final as (

    select
        companies.symbol,
        merged.added_d,
        nullif(merged.removed_d, 'infinity'::date) as removed_d,
        merged.source,
        merged.company_symbol

    from merged
    inner join companies
        on merged.company_symbol = companies.company_symbol

)

select * from final
