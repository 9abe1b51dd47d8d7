-- How much of the index the data covers: per trading session between the first and the last clean bar,
-- the index members that day (companies, by universe_membership), those with a clean bar that day under
-- any of their tickers, and the share. Low coverage in early years means dead names are missing from the
-- data, and a backtest over them still carries survivorship bias.
-- Incremental by day (macros/market_data/coverage_changes.sql): a night recomputes the days from the first
-- one whose bars int_bars_processed rewrote, and every day when the calendar, the membership or the
-- ticker-to-company map changed; each day is computed as a full refresh computes it.
{{
    config(
        materialized='incremental',
        unique_key=['d'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=["{{ rt_coverage_recompute_from(this) }}"],
        post_hook=["{{ rt_record_coverage_inputs(this) }}"],
        indexes=[{'columns': ['d'], 'unique': true}],
    )
}}
-- depends_on: {{ ref('int_bars_processed') }}
{#- the first day recomputed: the pre-hook's choice on an incremental build, every day otherwise -#}
{%- set from_d = "current_setting('rapidtrader.coverage_from')::date" if is_incremental() else "'-infinity'::date" %}

with

sessions as (

    select calendar.d

    from {{ ref('trading_calendar') }} as calendar
    where
        calendar.is_session
        and calendar.d >= (select min(bars.d) from {{ ref('bars_daily') }} as bars)
        and calendar.d <= (select max(bars.d) from {{ ref('bars_daily') }} as bars)
        and calendar.d >= {{ from_d }}

),

company_intervals as (

    select distinct
        company_symbol,
        added_d,
        removed_d

    from {{ ref('universe_membership') }}

),

-- one row per (session, membership interval) would be days x intervals; only the count per day is kept
members as (

    select
        sessions.d,
        count(*) as members

    from sessions
    inner join company_intervals
        on
            sessions.d >= company_intervals.added_d
            and (company_intervals.removed_d is null or sessions.d < company_intervals.removed_d)
    group by sessions.d

),

-- each ticker of a member company with that company's intervals, and how many tickers the company has
ticker_intervals as (

    select
        companies.symbol,
        company_intervals.company_symbol,
        company_intervals.added_d,
        company_intervals.removed_d,
        count(*) over (
            partition by company_intervals.company_symbol, company_intervals.added_d, company_intervals.removed_d
        ) as tickers

    from company_intervals
    inner join {{ ref('int_ticker_companies') }} as companies
        on company_intervals.company_symbol = companies.company_symbol

),

-- a clean bar of a member on a day it was a member (bars_daily has one bar per ticker and day)
covered_bars as materialized (

    select
        bars.d,
        ticker_intervals.company_symbol,
        ticker_intervals.added_d,
        ticker_intervals.removed_d,
        ticker_intervals.tickers

    from {{ ref('bars_daily') }} as bars
    inner join ticker_intervals
        on
            bars.symbol = ticker_intervals.symbol
            and bars.d >= ticker_intervals.added_d
            and (ticker_intervals.removed_d is null or bars.d < ticker_intervals.removed_d)
    where bars.d >= {{ from_d }}

),

-- a company counts once a day: a single-ticker company's bars are counted as they are (no de-duplication
-- of a million rows), a company with several tickers once per day and interval however many of them traded
covered as (

    select
        d,
        count(*) as members_with_clean_bar

    from covered_bars
    where tickers = 1
    group by d

    union all

    select
        d,
        count(*) as members_with_clean_bar

    from (
        select distinct
            d,
            company_symbol,
            added_d,
            removed_d

        from covered_bars
        where tickers > 1
    ) as several_tickers
    group by d

),

covered_by_day as (

    select
        d,
        sum(members_with_clean_bar)::bigint as members_with_clean_bar

    from covered
    group by d

),

final as (

    select
        members.d,
        members.members,
        coalesce(covered_by_day.members_with_clean_bar, 0) as members_with_clean_bar,
        (coalesce(covered_by_day.members_with_clean_bar, 0)::float8 / members.members) as coverage

    from members
    left join covered_by_day
        on members.d = covered_by_day.d

)

select * from final
