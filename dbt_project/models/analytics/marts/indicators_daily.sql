-- Indicators on adjusted OHLC, one row per (symbol, d), exactly as TA-Lib computes them:
-- SMA n = (running sum of adj_close - the running sum n bars back) / n, null until n bars exist;
-- RSI 14 and ATR 14 with TA-Lib's Wilder smoothing (udf.rt_wilder_v1, see macros/rt_indicator_functions.sql),
-- null for the first 14 bars.
-- Incremental: indicator_changes(this) says per symbol whether to append its new bars (carrying the stored
-- running sum and Wilder state of its last row forward; the last 200 stored rows give the SMA lookback) or
-- to recompute it in full (its history changed). delete+insert replaces the rows written; the post-hook
-- then deletes what a full recompute left behind (stored days that are no longer bars) and the symbols
-- with no bars left. The same float8 operations run in the same order either way, so an incremental
-- build equals a full refresh.
{{
    config(
        materialized='incremental',
        unique_key=['symbol', 'd'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{% if is_incremental() %}{{ rt_delete_superseded_rows(this) }}{% endif %}",
            "{{ rt_analyze_if_never(this) }}",
        ],
        indexes=[
            {'columns': ['symbol', 'd'], 'unique': true},
            {'columns': ['d']},
            {'columns': ['computed_at']},
        ],
    )
}}
-- depends_on: {{ ref('symbols') }}
{%- set sma_windows = rt_sma_windows() %}
{%- set wilder_n = 14 %}

with

-- not materialized: each use filters it (a materialized copy of bars_daily would be O(history))
bars as not materialized (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        volume

    from {{ ref('bars_daily') }}

),

{% if is_incremental() %}

changes as materialized (

    {{ indicator_changes(this) }}

),

recomputed_bars as (

    select bars.*

    from bars
    inner join changes
        on bars.symbol = changes.symbol
    where changes.mode = 'full'

),

appended_bars as (

    select bars.*

    from bars
    inner join changes
        on bars.symbol = changes.symbol
    where
        changes.mode = 'append'
        and bars.d > changes.stored_last_d
        -- the same bound for every row: lets the planner use the index on bars_daily (d)
        and bars.d > (
            select min(appending.stored_last_d) from changes as appending
            where appending.mode = 'append'
        )

),

-- the last 200 stored rows of each appended symbol (index probes on symbol, d)
carried as (

    select stored.*

    from changes
    cross join
        lateral (
            select
                this_table.*,
                this_table.d = changes.stored_last_d as is_last

            from {{ this }} as this_table
            where this_table.symbol = changes.symbol
            order by this_table.d desc
            limit {{ sma_windows | max }}
        ) as stored
    where changes.mode = 'append'

),

new_bars as (

    select * from recomputed_bars

    union all

    select * from appended_bars

),

{% else %}

new_bars as (

    select * from bars

),

{% endif %}

-- new bars, and (incremental) the stored tail that carries sums and smoothing state forward
stream as (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        volume,
        true as is_new,
        null::bigint as stored_bar_number,
        null::double precision as carried_sum,
        null::double precision as stored_cumsum,
        null::double precision[] as wilder_seed

    from new_bars

    {% if is_incremental() %}

    union all

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        volume,
        false as is_new,
        bar_number as stored_bar_number,
        case when is_last then adj_close_cumsum end as carried_sum,
        adj_close_cumsum as stored_cumsum,
        case
            when is_last then array[bar_number - 1, avg_gain_14, avg_loss_14, atr_14]::double precision[]
        end as wilder_seed

    from carried

    {% endif %}

),

moves as (

    select
        *,
        coalesce(first_value(stored_bar_number) over by_symbol - 1, 0)
        + row_number() over by_symbol as bar_number,
        -- float8 running sum in bar order: a carried row starts the sum at its stored value, so
        -- stored + x1 + x2 ... repeats exactly the additions of a full refresh
        case
            when is_new
                then sum(case when is_new then adj_close else carried_sum end) over by_symbol_running
            else stored_cumsum
        end as adj_close_cumsum,
        adj_close - lag(adj_close) over by_symbol as close_change,
        case
            when lag(adj_close) over by_symbol is not null
                then greatest(
                    adj_high - adj_low,
                    abs(adj_high - lag(adj_close) over by_symbol),
                    abs(adj_low - lag(adj_close) over by_symbol)
                )
        end as true_range

    from stream

    window
        by_symbol as (partition by symbol order by d),
        by_symbol_running as (
            partition by symbol order by d rows between unbounded preceding and current row
        )

),

smoothed as (

    select
        *,
        udf.rt_wilder_v1(
            case when close_change > 0 then close_change else 0 end,
            case when close_change < 0 then -close_change else 0 end,
            true_range,
            {{ wilder_n }},
            wilder_seed
        ) over by_symbol_running as wilder,
        {{ rt_sma_columns(sma_windows, 'adj_close_cumsum', 'bar_number', 'by_symbol') }}

    from moves

    window
        by_symbol as (partition by symbol order by d),
        by_symbol_running as (
            partition by symbol order by d rows between unbounded preceding and current row
        )

),

final as (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        volume,
        {%- for n in sma_windows %}
        sma_{{ n }},
        {%- endfor %}
        case
            when wilder[1] >= {{ wilder_n }}
                then case
                    -- TA-Lib's TA_IS_ZERO: no move at all over the window gives 0
                    when wilder[2] + wilder[3] < 1e-8::double precision then 0::double precision
                    else 100 * (wilder[2] / (wilder[2] + wilder[3]))
                end
        end as rsi_14,
        case when wilder[1] >= {{ wilder_n }} then wilder[4] end as atr_14,
        bar_number,
        bar_number >= {{ var('rt_warm_bars') | int }} as is_warm,
        case when wilder[1] >= {{ wilder_n }} then wilder[2] end as avg_gain_14,
        case when wilder[1] >= {{ wilder_n }} then wilder[3] end as avg_loss_14,
        adj_close_cumsum,
        '{{ run_started_at }}'::timestamptz as computed_at

    from smoothed
    where is_new

)

select * from final
