-- Strategy signals per equity and day: RSI mean reversion (RSI_MR), SMA crossover (SMA_X) and the
-- combined decision (COMBINED), one row each, with the indicator values that produced them.
-- Equities = every symbol of indicators_daily that is not a market ETF (seed market_symbols).
-- Incremental: the indicator rows written since this model's last run (indicators_daily.computed_at) are
-- (re)computed, with the rows just before them as the confirmation look-back; the pre-hook first deletes
-- the stored rows they replace (from a symbol's first new day on, or all of it when it was recomputed in
-- full, or when the symbols mart lists it with no bars left).
{{
    config(
        materialized='incremental',
        unique_key=['d', 'symbol', 'strategy'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ rt_analyze_if_never(this) }}",
        indexes=[
            {'columns': ['symbol', 'd', 'strategy'], 'unique': true},
            {'columns': ['d', 'strategy', 'direction']},
            {'columns': ['computed_at']},
        ],
        pre_hook="{% if is_incremental() %}
            with fresh as (
                select
                    symbol,
                    min(d) as first_new_d,
                    min(bar_number) as first_new_bar
                from {{ ref('indicators_daily') }}
                where computed_at > (select coalesce(max(computed_at), '-infinity') from {{ this }})
                group by symbol
            ),

            deleted_tail as (
                delete from {{ this }} as stored
                using fresh
                where stored.symbol = fresh.symbol and stored.d >= fresh.first_new_d
            )
            delete from {{ this }}
            where symbol in (select fresh.symbol from fresh where fresh.first_new_bar = 1);
            delete from {{ this }}
            where symbol in (
                select symbol from {{ ref('symbols') }} where coalesce(n_bars, 0) = 0
            )
        {% endif %}",
    )
}}
-- depends_on: {{ ref('symbols') }}
{%- set rsi_buy = (var('rt_rsi_buy') | float) ~ '::double precision' %}
{%- set rsi_sell = (var('rt_rsi_sell') | float) ~ '::double precision' %}
{%- set confirm_on = var('rt_enable_signal_confirm') | int == 1 %}
{%- set confirm_window = var('rt_confirm_window') | int %}
{%- set confirm_min = var('rt_confirm_min_count') | int %}
{%- set sma_days = var('rt_sma_confirm_days') | int %}
{%- set lookback = [confirm_window, sma_days] | max - 1 %}
{%- if confirm_window < 1 or confirm_min < 1 or sma_days < 1 %}
    {{ exceptions.raise_compiler_error("RT_CONFIRM_WINDOW, RT_CONFIRM_MIN_COUNT and RT_SMA_CONFIRM_DAYS must be >= 1") }}
{%- endif %}

with

-- not materialized: the filters below must reach the indexes of indicators_daily (computed_at; symbol, d)
indicators as not materialized (

    select
        symbol,
        d,
        adj_close,
        rsi_14,
        {{ rt_sma_column(var('rt_sma_fast')) }} as sma_fast,
        {{ rt_sma_column(var('rt_sma_slow')) }} as sma_slow,
        atr_14,
        bar_number,
        is_warm,
        computed_at

    from {{ ref('indicators_daily') }}

),

market_etfs as (

    select symbol from {{ ref('market_symbols') }}

),

{% if is_incremental() %}

fresh as (

    select indicators.*

    from indicators
    where
        indicators.computed_at > (select coalesce(max(stored.computed_at), '-infinity') from {{ this }} as stored)
        and indicators.symbol not in (select market_etfs.symbol from market_etfs)

),

fresh_starts as (

    select
        symbol,
        min(d) as first_new_d

    from fresh
    group by symbol

),

-- the rows before a symbol's first new day that its confirmation windows look back on
look_back as (

    select earlier.*

    from fresh_starts
    cross join lateral (
        select indicators.*

        from indicators
        where
            indicators.symbol = fresh_starts.symbol
            and indicators.d < fresh_starts.first_new_d
        order by indicators.d desc
        limit {{ lookback }}
    ) as earlier

),

equity_rows as (

    select
        *,
        true as is_new

    from fresh

    union all

    select
        *,
        false as is_new

    from look_back

),

{% else %}

equity_rows as (

    select
        *,
        true as is_new

    from indicators
    where symbol not in (select market_etfs.symbol from market_etfs)

),

{% endif %}

rule_inputs as (

    select
        *,
        coalesce(rsi_14 < {{ rsi_buy }}, false) as rsi_raw_buy,
        coalesce(rsi_14 >= {{ rsi_sell }}, false) as rsi_sell,
        coalesce(sma_fast > sma_slow, false) as sma_up,
        coalesce(sma_fast < sma_slow, false) as sma_down

    from equity_rows

),

confirmations as (

    select
        *,
        count(*) filter (where rsi_raw_buy) over last_confirm_rows as n_raw_buys_in_window,
        count(*) filter (where sma_up) over last_sma_rows as n_up_rows,
        count(*) filter (where sma_down) over last_sma_rows as n_down_rows

    from rule_inputs

    window
        by_symbol as (partition by symbol order by d),
        last_confirm_rows as (by_symbol rows between {{ confirm_window - 1 }} preceding and current row),
        last_sma_rows as (by_symbol rows between {{ sma_days - 1 }} preceding and current row)

),

decided as (

    select
        *,
        -- confirmed: a raw buy today, and at least RT_CONFIRM_MIN_COUNT raw buys in the last RT_CONFIRM_WINDOW rows
        {% if confirm_on -%}
        rsi_raw_buy and n_raw_buys_in_window >= {{ confirm_min }}
        {%- else -%}
        rsi_raw_buy
        {%- endif %} as rsi_confirmed_buy,
        n_up_rows = {{ sma_days }} as sma_buy,
        n_down_rows = {{ sma_days }} as sma_sell

    from confirmations
    where is_new

),

directions as (

    select
        *,
        case
            when rsi_sell then 'sell'
            when rsi_confirmed_buy then 'buy'
            else 'hold'
        end as rsi_direction,
        case
            when sma_sell then 'sell'
            when sma_buy then 'buy'
            else 'hold'
        end as sma_direction

    from decided

),

-- materialized: inlined, every reference below would re-evaluate the nested cases (measured 18 s vs 3.6 s)
combined as materialized (

    select
        *,
        case
            when 'sell' in (rsi_direction, sma_direction) then 'sell'
            when 'buy' in (rsi_direction, sma_direction) then 'buy'
            else 'hold'
        end as combined_direction,
        case when rsi_direction = 'buy' then ({{ rsi_buy }} - rsi_14) / {{ rsi_buy }} end as rsi_strength,
        case when sma_direction = 'buy' then (sma_fast - sma_slow) / sma_slow end as sma_strength

    from directions

),

-- one row per strategy: RSI_MR decides the combined row when it gives the combined direction (holds
-- included), else SMA_X; the combined strength is the deciding strategy's
final as (

    select
        combined.d,
        combined.symbol,
        per_strategy.strategy,
        per_strategy.direction,
        per_strategy.strength,
        per_strategy.raw_buy,
        per_strategy.confirmed_buy,
        per_strategy.deciding_strategy,
        combined.adj_close as close,
        combined.rsi_14,
        combined.sma_fast,
        combined.sma_slow,
        combined.atr_14,
        combined.bar_number,
        combined.is_warm,
        '{{ run_started_at }}'::timestamptz as computed_at

    from combined
    cross join lateral (
        values
        (
            'RSI_MR',
            combined.rsi_direction,
            combined.rsi_strength,
            combined.rsi_raw_buy,
            combined.rsi_confirmed_buy,
            null
        ),
        (
            'SMA_X',
            combined.sma_direction,
            combined.sma_strength,
            combined.sma_up,
            combined.sma_buy,
            null
        ),
        (
            'COMBINED',
            combined.combined_direction,
            case
                when combined.combined_direction = 'buy' and combined.rsi_direction = 'buy'
                    then combined.rsi_strength
                when combined.combined_direction = 'buy' then combined.sma_strength
            end,
            null,
            null,
            case when combined.rsi_direction = combined.combined_direction then 'RSI_MR' else 'SMA_X' end
        )
    ) as per_strategy (strategy, direction, strength, raw_buy, confirmed_buy, deciding_strategy)

)

select * from final
