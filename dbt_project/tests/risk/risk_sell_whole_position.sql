-- Guards exits: a sell order is only for a held symbol and always for the whole position.
{{ config(severity='error') }}

select * from {{ ref('orders_proposed') }}
where side = 'sell' and qty is distinct from held_qty
