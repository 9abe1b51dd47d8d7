-- How much of the index the data covers: per trading session between the first and the last clean bar,
-- the index members that day (companies, by universe_membership), those with a clean bar that day under
-- any of their tickers, and the share. Low coverage in early years means dead names are missing from the
-- data, and a backtest over them still carries survivorship bias.
with

sessions as (

    select calendar.d

    from {{ ref('trading_calendar') }} as calendar
    where
        calendar.is_session
        and calendar.d >= (select min(bars.d) from {{ ref('bars_daily') }} as bars)
        and calendar.d <= (select max(bars.d) from {{ ref('bars_daily') }} as bars)

),

company_intervals as (

    select distinct
        company_symbol,
        added_d,
        removed_d

    from {{ ref('universe_membership') }}

),

members as (

    select
        sessions.d,
        company_intervals.company_symbol

    from sessions
    inner join company_intervals
        on
            sessions.d >= company_intervals.added_d
            and (company_intervals.removed_d is null or sessions.d < company_intervals.removed_d)

),

covered as (

    select distinct
        bars.d,
        companies.company_symbol

    from {{ ref('bars_daily') }} as bars
    inner join {{ ref('int_ticker_companies') }} as companies
        on bars.symbol = companies.symbol

),

final as (

    select
        members.d,
        count(*) as members,
        count(covered.company_symbol) as members_with_clean_bar,
        (count(covered.company_symbol)::float8 / count(*)) as coverage

    from members
    left join covered
        on members.d = covered.d and members.company_symbol = covered.company_symbol
    group by members.d

)

select * from final
