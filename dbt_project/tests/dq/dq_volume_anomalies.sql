-- Guards: volumes that would mislead liquidity and the market state's average volume. Over the last
-- RT_DQ_WINDOW_SESSIONS sessions up to the session checked (the latest of bars_daily, or the var
-- rt_dq_session), fails with the clean bars whose volume is zero or negative, or more than
-- RT_DQ_VOLUME_SPIKE_X (10) times the symbol's average of its previous 20 bars. anomaly_pct = their share
-- of the window's bars. Tiers: warning above RT_DQ_VOLUME_WARN_PCT (0.25%), critical above
-- RT_DQ_VOLUME_ERROR_PCT (0.5%). This test is the only definition of a volume anomaly: every tool reads
-- its verdict and rows.
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
-- A run for an explicit session stores its rows in schema dq_validate, so the nightly rows in dq stay.
{%- set session = var('rt_dq_session', '') | string %}
{{
    config(
        fail_calc='coalesce(ceil(max(anomaly_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_volume_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_volume_error_pct') | float * 100),
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

-- 20 sessions more than the window: the first day's trailing average needs them
read_sessions as (

    select
        d,
        row_number() over (order by d desc) as sessions_back

    from {{ ref('trading_calendar') }}
    where is_session and d <= (select session.d from session)
    order by d desc
    limit {{ var('rt_dq_window_sessions') | int + 20 }}

),

bars as (

    select
        symbol,
        d,
        volume,
        avg(volume) over previous_20 as avg_volume_before,
        d >= (
            select min(read_sessions.d) from read_sessions
            where read_sessions.sessions_back <= {{ var('rt_dq_window_sessions') | int }}
        ) as in_window

    from {{ ref('bars_daily') }}
    where
        d >= (select min(read_sessions.d) from read_sessions)
        and d <= (select session.d from session)

    window previous_20 as (partition by symbol order by d rows between 20 preceding and 1 preceding)

),

checked as (

    select
        symbol,
        d,
        volume,
        avg_volume_before,
        case
            when volume is null or volume <= 0 then 'zero or negative volume'
            when volume > {{ var('rt_dq_volume_spike_x') | float }} * avg_volume_before
                then 'volume spike'
        end as anomaly,
        count(*) over () as n_window_bars

    from bars
    where in_window

),

final as (

    select
        symbol,
        d,
        (select session.d from session) as session_d,
        anomaly,
        volume,
        avg_volume_before,
        100.0 * count(*) over () / n_window_bars as anomaly_pct

    from checked
    where anomaly is not null

)

select * from final
