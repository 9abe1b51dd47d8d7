-- Guards: stale symbols whose indicators and signals would silently freeze. For every active equity with
-- bars, counts the NYSE sessions (trading calendar, holidays excluded) between its last clean bar up to the
-- session checked and that session (the latest of bars_daily, or the var rt_dq_session); fails with the
-- symbols at least one session behind. Tiers on the worst symbol: warning at RT_DQ_RECENCY_WARN_SESSIONS
-- (1) sessions behind, critical at RT_DQ_RECENCY_ERROR_SESSIONS (3). (Whether the latest session itself is
-- late is the source freshness check.)
-- A run for an explicit session stores its rows in schema dq_validate, so the nightly rows in dq stay.
{%- set session = var('rt_dq_session', '') | string %}
{{
    config(
        fail_calc='coalesce(max(sessions_behind), 0)',
        warn_if='>=' ~ var('rt_dq_recency_warn_sessions'),
        error_if='>=' ~ var('rt_dq_recency_error_sessions'),
        schema='dq_validate' if session else 'dq',
        tags=['dq'],
    )
}}

with

calendar as (

    select * from {{ ref('trading_calendar') }}

),

session as (

    {% if session -%}
    select '{{ modules.datetime.date.fromisoformat(session) }}'::date as d
    {%- else -%}
    select max(d) as d from {{ ref('bars_daily') }}
    {%- endif %}

),

active as (

    select symbol

    from {{ ref('symbols') }}
    where is_active and asset_class = 'equity'

),

-- each active equity's last clean bar on or before the session (symbols.last_d when the session is the latest)
last_bars as (

    select
        bars.symbol,
        max(bars.d) as last_d

    from {{ ref('bars_daily') }} as bars
    inner join active
        on bars.symbol = active.symbol
    where bars.d <= (select session.d from session)
    group by bars.symbol

),

behind as (

    select
        last_bars.symbol,
        last_bars.last_d,
        session.d as session_d,
        session_row.session_number - last_session.session_number as sessions_behind

    from last_bars
    cross join session
    inner join calendar as session_row
        on session.d = session_row.d
    left join calendar as last_session
        on last_bars.last_d = last_session.d

)

select * from behind
where sessions_behind >= 1
