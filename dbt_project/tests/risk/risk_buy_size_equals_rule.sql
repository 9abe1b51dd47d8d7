-- Guards sizing: an accepted buy's quantity is exactly
-- min(floor(equity x RT_PCT_PER_TRADE / close), floor(equity x RT_DAILY_RISK_CAP / (RT_ATR_STOP_K x ATR14))),
-- recomputed from signals_daily's close and ATR of the order day.
{{ config(severity='error') }}

select * from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and is_accepted_buy and qty is distinct from expected_size
