-- Guards exits: a sell order is only for a held symbol and always for the whole position.
{{ config(severity='error') }}

select * from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and side = 'sell' and qty is distinct from held_qty
