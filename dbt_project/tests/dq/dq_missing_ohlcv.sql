-- Guards: gaps in the bars the indicators read. Over the last RT_DQ_WINDOW_SESSIONS NYSE sessions (trading
-- calendar) up to the session checked (the latest of bars_daily, or the var rt_dq_session), every active
-- equity that had started trading should have a clean bar each session; bars with a missing
-- open/high/low/close/volume are quarantined, so they count as missing too. Fails with the missing
-- (symbol, d) points; missing_pct = their share of the expected points. Tiers: warning above
-- RT_DQ_MISSING_WARN_PCT (0.5%), critical above RT_DQ_MISSING_ERROR_PCT (1%).
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
-- A run for an explicit session stores its rows in schema dq_validate, so the nightly rows in dq stay.
{%- set session = var('rt_dq_session', '') | string %}
{{
    config(
        fail_calc='coalesce(ceil(max(missing_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_missing_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_missing_error_pct') | float * 100),
        schema='dq_validate' if session else 'dq',
        tags=['dq'],
    )
}}

with

session as (

    {% if session -%}
    select '{{ modules.datetime.date.fromisoformat(session) }}'::date as d
    {%- else -%}
    select max(d) as d from {{ ref('bars_daily') }}
    {%- endif %}

),

window_sessions as (

    select d

    from {{ ref('trading_calendar') }}
    where is_session and d <= (select session.d from session)
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
    where
        d >= (select min(window_sessions.d) from window_sessions)
        and d <= (select session.d from session)

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
        (select session.d from session) as session_d,
        100.0 * count(*) over () / (select count(*) from expected) as missing_pct

    from missing

)

select * from final
