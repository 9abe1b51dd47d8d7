-- Guards: prices the indicators would turn into false signals. Over the last RT_DQ_WINDOW_SESSIONS sessions
-- up to the session checked (the latest of bars_daily, or the var rt_dq_session), fails with the clean bars
-- whose adjusted prices are outside expected ranges: a non-positive price, high below low, open or close
-- outside [low, high], a one-day close move beyond RT_DQ_MAX_DAILY_MOVE (40%), or a move within 3% of a
-- common split ratio (1:2, 1:3, 1:4, 1:5, 1:10, 2:3 or the reverse), the mark of an unadjusted split.
-- anomaly_pct = their share of the window's bars. Tiers: warning above RT_DQ_PRICE_WARN_PCT (0.05%),
-- critical above RT_DQ_PRICE_ERROR_PCT (0.1%). Set RT_DQ_WINDOW_SESSIONS to 100000 to audit the whole
-- history. This test is the only definition of a price anomaly: every tool reads its verdict and rows.
-- The failure count dbt compares with the tiers is the share in hundredths of a percent (basis points).
-- A run for an explicit session stores its rows in schema dq_validate, so the nightly rows in dq stay.
{%- set session = var('rt_dq_session', '') | string %}
{{
    config(
        fail_calc='coalesce(ceil(max(anomaly_pct) * 100), 0)::integer',
        warn_if='>' ~ (var('rt_dq_price_warn_pct') | float * 100),
        error_if='>' ~ (var('rt_dq_price_error_pct') | float * 100),
        schema='dq_validate' if session else 'dq',
        tags=['dq'],
    )
}}
{%- set split_ratios = [2, 3, 4, 5, 10, 1.5] %}

with

session as (

    {% if session -%}
    select '{{ modules.datetime.date.fromisoformat(session) }}'::date as d
    {%- else -%}
    select max(d) as d from {{ ref('bars_daily') }}
    {%- endif %}

),

-- one session more than the window: the first day's move needs the close before it
window_sessions as (

    select d

    from {{ ref('trading_calendar') }}
    where is_session and d <= (select session.d from session)
    order by d desc
    limit {{ var('rt_dq_window_sessions') | int + 1 }}

),

bars as (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        adj_close / nullif(lag(adj_close) over by_symbol, 0) as close_ratio,
        d > (select min(window_sessions.d) from window_sessions) as in_window

    from {{ ref('bars_daily') }}
    where
        d >= (select min(window_sessions.d) from window_sessions)
        and d <= (select session.d from session)

    window by_symbol as (partition by symbol order by d)

),

checked as (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        close_ratio,
        case
            when least(adj_open, adj_high, adj_low, adj_close) <= 0 then 'non-positive price'
            when adj_high < adj_low then 'high below low'
            when adj_open not between adj_low and adj_high then 'open outside low-high'
            when adj_close not between adj_low and adj_high then 'close outside low-high'
            {%- for r in split_ratios %}
            when abs(close_ratio * {{ r }}::double precision - 1) < 0.03::double precision
                then 'looks like an unadjusted {{ r }}-for-1 split'
            when abs(close_ratio / {{ r }}::double precision - 1) < 0.03::double precision
                then 'looks like an unadjusted 1-for-{{ r }} reverse split'
            {%- endfor %}
            when abs(close_ratio - 1) > {{ var('rt_dq_max_daily_move') | float }}::double precision
                then 'one-day move beyond the limit'
        end as anomaly,
        count(*) filter (where in_window) over () as n_window_bars

    from bars
    where in_window

),

final as (

    select
        symbol,
        d,
        (select session.d from session) as session_d,
        anomaly,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        close_ratio,
        100.0 * count(*) over () / n_window_bars as anomaly_pct

    from checked
    where anomaly is not null

)

select * from final
