{{ config(materialized='view') }}

-- Strategy signals per equity and day: RSI mean reversion (RSI_MR), SMA crossover (SMA_X) and the
-- combined decision (COMBINED), one row each, with the indicator values that produced them. The decisions
-- are stored once (signals_decided, one row per equity and day); the indicator values are read from
-- indicators_daily, so nothing is stored twice.
with

decisions as (

    select * from {{ ref('signals_decided') }}

),

indicators as (

    select
        symbol,
        d,
        adj_close,
        rsi_14,
        {{ rt_sma_column(var('rt_sma_fast')) }} as sma_fast,
        {{ rt_sma_column(var('rt_sma_slow')) }} as sma_slow,
        atr_14,
        bar_number,
        is_warm

    from {{ ref('indicators_daily') }}

),

final as (

    select
        decisions.d,
        decisions.symbol,
        per_strategy.strategy,
        per_strategy.direction,
        per_strategy.strength,
        per_strategy.raw_buy,
        per_strategy.confirmed_buy,
        per_strategy.deciding_strategy,
        indicators.adj_close as close,
        indicators.rsi_14,
        indicators.sma_fast,
        indicators.sma_slow,
        indicators.atr_14,
        indicators.bar_number,
        indicators.is_warm,
        decisions.computed_at

    from decisions
    inner join indicators
        on decisions.symbol = indicators.symbol and decisions.d = indicators.d
    cross join lateral (
        values
        (
            'RSI_MR', decisions.rsi_direction, decisions.rsi_strength, decisions.rsi_raw_buy,
            decisions.rsi_confirmed_buy, null
        ),
        ('SMA_X', decisions.sma_direction, decisions.sma_strength, decisions.sma_up, decisions.sma_buy, null),
        (
            'COMBINED', decisions.combined_direction, decisions.combined_strength, null, null,
            decisions.deciding_strategy
        )
    ) as per_strategy (strategy, direction, strength, raw_buy, confirmed_buy, deciding_strategy)

)

select * from final
