{{ config(materialized='view') }}

-- The COMBINED decision per equity and day with the close and ATR the ledger sizes, stops and values
-- positions with: signals_daily's COMBINED rows, read from the same two tables (signals_decided,
-- indicators_daily). The ledger and the backtest read this view instead of signals_daily so that they do
-- not wait for signals_daily's whole-history tests in a full rebuild (int_ledger_signals.yml).
with

decisions as (

    select * from {{ ref('signals_decided') }}

),

indicators as (

    select * from {{ ref('indicators_daily') }}

),

final as (

    select
        decisions.d,
        decisions.symbol,
        'COMBINED'::text as strategy,
        decisions.combined_direction as direction,
        decisions.combined_strength as strength,
        indicators.adj_close as close,
        indicators.atr_14

    from decisions
    inner join indicators
        on decisions.symbol = indicators.symbol and decisions.d = indicators.d

)

select * from final
