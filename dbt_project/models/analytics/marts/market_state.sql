-- The market filter, one row per trading day (a day with bars in bars_daily): the filter symbol's
-- (RT_MARKET_FILTER_SYMBOL, SPY) adjusted close and SMA (RT_MARKET_FILTER_SMA, 200), the bull gate
-- (close >= SMA; closed while the SMA is null or the symbol has no bar that day; always open when
-- RT_MARKET_FILTER_ENABLE=0), its 20-day average volume and 20-day volatility (sample standard deviation
-- of daily close-to-close returns, not annualised), the day's buy candidates (COMBINED buys in
-- signals_daily: signals_decided's buys that have their indicators_daily row, counted from those two tables
-- so that this model does not wait for signals_daily's whole-history tests in a full rebuild) and how many
-- of them the gate blocks.
-- Incremental: every day from the earliest day of the indicator or signal rows written since this
-- model's last run is recomputed (a re-adjusted filter symbol or a recomputed equity reaches back). The
-- filter settings it was built with are recorded in the table's comment; when they differ from the current
-- ones, the pre-hook empties the table and every day is computed again (macros/analytics/rule_settings.sql).
-- A change of the signal settings reaches back the same way: signals_decided rewrites every row.
{{
    config(
        materialized='incremental',
        unique_key='d',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ rt_recompute_if_rules_changed(this, rt_market_rule_settings()) }}",
        post_hook=[
            "{{ rt_analyze_if_never(this) }}",
            "{{ rt_record_rule_settings(this, rt_market_rule_settings()) }}",
        ],
        indexes=[{'columns': ['d'], 'unique': true}],
    )
}}
{#- the settings recorded in the comment are the ones the gate below uses -#}
{%- set settings = rt_market_rule_settings() %}
{%- set filter_symbol = settings.rt_market_filter_symbol %}
{%- set filter_on = settings.rt_market_filter_enable == 1 %}

with

-- not materialized: each use below filters through an index of its table (a materialized copy is O(history))
indicators as not materialized (

    select * from {{ ref('indicators_daily') }}

),

decisions as not materialized (

    select * from {{ ref('signals_decided') }}

),

-- signals_daily's COMBINED buys: the buy decisions that have their indicator row (the view's inner join),
-- probed per decision through the indicators' key
buys as not materialized (

    select
        decisions.d,
        decisions.symbol

    from decisions
    where
        decisions.combined_direction = 'buy'
        and exists (
            select 1 from indicators
            where indicators.symbol = decisions.symbol and indicators.d = decisions.d
        )

),

{% if is_incremental() %}

-- materialized on purpose: min(d) over a filter on computed_at would otherwise be planned as a walk of
-- the d index from the oldest day (measured 6 s at 20 years); these read only the rows of recent runs
-- (every row when the table is empty: the pre-hook empties it after a change of the filter settings)
fresh_indicator_days as materialized (

    select indicators.d from indicators
    where
        indicators.computed_at
        > (select coalesce(max(stored.computed_at), '-infinity') from {{ this }} as stored)

),

-- the days of signals_daily's recent rows: its decisions (signals_decided) that have their indicator row,
-- probed per decision (offset 0 keeps the probe from becoming a join: through the view, the planner
-- expected a third of the decisions to be recent and hashed all of indicators_daily, 1.5 to 3 s at 20 y)
fresh_signal_days as materialized (

    select decisions.d from decisions
    where
        decisions.computed_at
        > (select coalesce(max(stored.computed_at), '-infinity') from {{ this }} as stored)
        and exists (
            select 1 from indicators
            where indicators.symbol = decisions.symbol and indicators.d = decisions.d
            offset 0  -- noqa: AM09
        )

),

recompute_from as (

    select least(
        (select min(fresh_indicator_days.d) from fresh_indicator_days),
        (select min(fresh_signal_days.d) from fresh_signal_days)
    ) as from_d

),

-- the calendar days from the first recomputed day to the newest indicator day. A night has a few: each is
-- probed through the index on d (probe_days). A range filter on d with a value the planner cannot see when
-- it plans read the whole of indicators_daily and signals_decided (1.5 s at 20 years); a long span (a
-- recomputed history) is still read as a range (the branches below are exclusive).
newest_indicator_day as (

    select max(indicators.d) as d from indicators

),

recompute_span as materialized (

    select
        recompute_from.from_d,
        newest_indicator_day.d as until_d,
        coalesce(newest_indicator_day.d - recompute_from.from_d <= 100, true) as probe_days

    from recompute_from
    cross join newest_indicator_day

),

probed_days as materialized (

    select days.d::date as d

    from recompute_span
    cross join generate_series(recompute_span.from_d, recompute_span.until_d, interval '1 day') as days (d)
    where recompute_span.probe_days

),

trading_days as (

    select probed_days.d

    from probed_days
    where
        exists (
            select 1 from indicators
            where indicators.d = probed_days.d
        )

    union all

    select distinct indicators.d

    from indicators
    where
        not (select recompute_span.probe_days from recompute_span)
        and indicators.d >= (select recompute_from.from_d from recompute_from)

),

probed_buy_candidates as (

    select
        probed_days.d,
        day_buys.n_buy_candidates

    from probed_days
    cross join lateral (
        select count(*) as n_buy_candidates

        from buys
        where buys.d = probed_days.d
    ) as day_buys

),

buy_candidates as (

    select
        d,
        n_buy_candidates

    from probed_buy_candidates

    union all

    select
        d,
        count(*) as n_buy_candidates

    from buys
    where
        not (select recompute_span.probe_days from recompute_span)
        and d >= (select recompute_from.from_d from recompute_from)
    group by d

),

{% else %}

trading_days as (

    select distinct indicators.d

    from indicators

),

buy_candidates as (

    select
        d,
        count(*) as n_buy_candidates

    from buys
    group by d

),

{% endif %}

-- the filter symbol's whole history (a few thousand rows, by index): its 20-day windows need the days
-- before the recomputed ones
filter_bars as (

    select
        d,
        symbol,
        adj_close,
        {{ rt_sma_column(settings.rt_market_filter_sma) }} as sma,
        volume,
        adj_close / nullif(lag(adj_close) over by_bar, 0) - 1 as daily_return

    from indicators
    where symbol = {{ rt_literal(filter_symbol) }}

    window by_bar as (partition by symbol order by d)

),

filter_windows as (

    select
        d,
        symbol,
        adj_close,
        sma,
        case
            when count(volume) over last_20_bars = 20 then (avg(volume) over last_20_bars)::double precision
        end as avg_volume_20,
        case
            when count(daily_return) over last_20_bars = 20 then stddev_samp(daily_return) over last_20_bars
        end as volatility_20

    from filter_bars

    window last_20_bars as (partition by symbol order by d rows between 19 preceding and current row)

),

gated as (

    select
        trading_days.d,
        filter_windows.adj_close as close,
        filter_windows.sma,
        coalesce({{ rt_float_cmp('filter_windows.adj_close', '>=', 'filter_windows.sma') }}, false) as close_above_sma,
        filter_windows.avg_volume_20,
        filter_windows.volatility_20,
        coalesce(buy_candidates.n_buy_candidates, 0) as n_buy_candidates

    from trading_days
    left join filter_windows
        on trading_days.d = filter_windows.d
    left join buy_candidates
        on trading_days.d = buy_candidates.d

),

final as (

    select
        d,
        {{ rt_literal(filter_symbol) }}::text as filter_symbol,
        close,
        sma,
        {{ 'close_above_sma' if filter_on else 'true' }} as bull_gate,
        close_above_sma,
        {{ 'true' if filter_on else 'false' }} as filter_enabled,
        avg_volume_20,
        volatility_20,
        n_buy_candidates,
        case when {{ 'close_above_sma' if filter_on else 'true' }} then 0 else n_buy_candidates end
            as n_blocked_by_gate,
        '{{ run_started_at }}'::timestamptz as computed_at

    from gated

)

select * from final
