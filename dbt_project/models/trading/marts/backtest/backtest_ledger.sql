{{
    config(
        materialized='table',
        indexes=[{'columns': ['record_type', 'd']}],
    )
}}

-- The backtest ledger: the same function as ledger, from RT_START_CAPITAL over
-- [rt_backtest_start, rt_backtest_end], rebuilt from scratch. Enabled only when rt_backtest_start is set
-- (`make backtest`), so the nightly build never pays for it and never touches the paper ledger.
with

ledger as (

    {{ ledger_advance(none, var('rt_backtest_start'), var('rt_backtest_end'), true) }}

),

final as (

    select * from ledger

)

select * from final
