-- Guards: stale symbols whose indicators and signals would silently freeze. For every active equity with
-- bars, counts the NYSE sessions (trading calendar, holidays excluded) between its last clean bar and the
-- latest session of bars_daily; fails with the symbols at least one session behind. Tiers on the worst
-- symbol: warning at RT_DQ_RECENCY_WARN_SESSIONS (1) sessions behind, critical at
-- RT_DQ_RECENCY_ERROR_SESSIONS (3). (Whether the latest session itself is late is the source freshness check.)
{{
    config(
        fail_calc='coalesce(max(sessions_behind), 0)',
        warn_if='>=' ~ var('rt_dq_recency_warn_sessions'),
        error_if='>=' ~ var('rt_dq_recency_error_sessions'),
        tags=['dq'],
    )
}}

with

calendar as (

    select * from {{ ref('trading_calendar') }}

),

latest as (

    select max(d) as d from {{ ref('bars_daily') }}

),

active as (

    select
        symbol,
        last_d

    from {{ ref('symbols') }}
    where is_active and asset_class = 'equity' and last_d is not null

),

behind as (

    select
        active.symbol,
        active.last_d,
        latest.d as latest_session_d,
        latest_session.session_number - last_session.session_number as sessions_behind

    from active
    cross join latest
    inner join calendar as latest_session
        on latest.d = latest_session.d
    left join calendar as last_session
        on active.last_d = last_session.d

)

select * from behind
where sessions_behind >= 1
