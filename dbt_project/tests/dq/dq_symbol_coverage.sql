-- Guards: the latest session is complete enough to trade on. Fails with the active equities (symbols mart)
-- that have no clean bar on the latest session of bars_daily; missing_pct = their share of the active
-- universe. Runbook tiers: warning above RT_DQ_COVERAGE_WARN_PCT (1%, i.e. coverage under 99%),
-- critical above RT_DQ_COVERAGE_ERROR_PCT (5%, coverage at or under 95%).
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
{{
    config(
        fail_calc='coalesce(ceil(max(missing_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_coverage_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_coverage_error_pct') | float * 100),
        tags=['dq'],
    )
}}

with

latest as (

    select max(d) as d from {{ ref('bars_daily') }}

),

active as materialized (

    select symbol from {{ ref('symbols') }}
    where is_active and asset_class = 'equity'

),

-- materialized: right after a build the marts have no statistics and a nested loop rescans bars_daily
latest_bars as materialized (

    select symbol from {{ ref('bars_daily') }}
    where d = (select latest.d from latest)

),

missing as (

    select active.symbol

    from active
    left join latest_bars
        on active.symbol = latest_bars.symbol
    where latest_bars.symbol is null

),

final as (

    select
        missing.symbol,
        (select latest.d from latest) as session_d,
        100.0 * count(*) over () / (select count(*) from active) as missing_pct

    from missing

)

select * from final
