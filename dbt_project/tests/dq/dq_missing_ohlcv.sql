-- Guards: gaps in the bars the indicators read. Over the last RT_DQ_WINDOW_SESSIONS NYSE sessions (trading
-- calendar) up to the latest session of bars_daily, every active equity that had started trading should
-- have a clean bar each session; bars with a missing open/high/low/close/volume are quarantined, so they
-- count as missing too. Fails with the missing (symbol, session) points; missing_pct = their share of the
-- expected points. Tiers: warning above RT_DQ_MISSING_WARN_PCT (0.5%), critical above RT_DQ_MISSING_ERROR_PCT (1%).
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
{{
    config(
        fail_calc='coalesce(ceil(max(missing_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_missing_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_missing_error_pct') | float * 100),
        tags=['dq'],
    )
}}

with

latest as (

    select max(d) as d from {{ ref('bars_daily') }}

),

window_sessions as (

    select d

    from {{ ref('trading_calendar') }}
    where is_session and d <= (select latest.d from latest)
    order by d desc
    limit {{ var('rt_dq_window_sessions') | int }}

),

active as (

    select
        symbol,
        first_d

    from {{ ref('symbols') }}
    where is_active and asset_class = 'equity' and first_d is not null

),

expected as (

    select
        active.symbol,
        window_sessions.d

    from active
    inner join window_sessions
        on window_sessions.d >= active.first_d

),

window_bars as (

    select
        symbol,
        d

    from {{ ref('bars_daily') }}
    where d >= (select min(window_sessions.d) from window_sessions)

),

missing as (

    select
        expected.symbol,
        expected.d

    from expected
    left join window_bars
        on
            expected.symbol = window_bars.symbol
            and expected.d = window_bars.d
    where window_bars.symbol is null

),

final as (

    select
        symbol,
        d,
        100.0 * count(*) over () / (select count(*) from expected) as missing_pct

    from missing

)

select * from final
