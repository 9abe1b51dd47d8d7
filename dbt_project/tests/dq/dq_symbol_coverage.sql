-- Guards: the session is complete enough to trade on. Fails with the active equities (symbols mart) that
-- have no clean bar on the session checked: the latest session of bars_daily, or the var rt_dq_session
-- (scripts/validate_data.py --date). missing_pct = their share of the active universe. Runbook tiers:
-- warning above RT_DQ_COVERAGE_WARN_PCT (1%, i.e. coverage under 99%), critical above
-- RT_DQ_COVERAGE_ERROR_PCT (5%, coverage under 95%). This test is the only definition of coverage: the
-- alerts, the health check, the daily report and validate_data.py read its verdict and its stored rows.
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
-- A run for an explicit session stores its rows in schema dq_validate, so the nightly rows in dq stay.
{%- set session = var('rt_dq_session', '') | string %}
{{
    config(
        fail_calc='coalesce(ceil(max(missing_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_coverage_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_coverage_error_pct') | float * 100),
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

active as materialized (

    select symbol from {{ ref('symbols') }}
    where is_active and asset_class = 'equity'

),

-- materialized: right after a build the marts have no statistics and a nested loop rescans bars_daily
session_bars as materialized (

    select symbol from {{ ref('bars_daily') }}
    where d = (select session.d from session)

),

missing as (

    select active.symbol

    from active
    left join session_bars
        on active.symbol = session_bars.symbol
    where session_bars.symbol is null

),

final as (

    select
        missing.symbol,
        (select session.d from session) as session_d,
        count(*) over () as n_missing,
        (select count(*) from active) as n_active,
        100.0 * count(*) over () / (select count(*) from active) as missing_pct

    from missing

)

select * from final
