{{
    config(
        materialized='table',
        enabled=rt_backtest_enabled(),
        indexes=[{'columns': ['record_type', 'd']}],
    )
}}

-- The backtest ledger: the same function as ledger, from RT_START_CAPITAL over
-- [RT_BACKTEST_START, RT_BACKTEST_END] (macros/trading/backtest_window.sql), rebuilt from scratch. Enabled
-- only when RT_BACKTEST_START is set (`make backtest`), so the nightly build never pays for it and never
-- touches the paper ledger.
with

ledger as (

    {{ ledger_advance(none, rt_backtest_start(), rt_backtest_end(), true) }}

),

final as (

    select * from ledger

)

select * from final
