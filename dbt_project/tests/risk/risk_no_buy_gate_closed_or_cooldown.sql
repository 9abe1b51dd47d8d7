-- Guards the market gate and the stop cooldown: no accepted buy on a day the gate (market_state) was
-- closed, nor for a symbol stopped out on that day or the previous RT_COOLDOWN_DAYS_ON_STOP trading days.
{{ config(severity='error') }}

select * from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and is_accepted_buy and (not gate_open or in_cooldown)
