-- Guards point-in-time membership: no accepted buy of a symbol that was not an index member on the day
-- (universe_membership, or the latest list with RT_UNIVERSE_MODE=current).
{{ config(severity='error') }}

select * from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and is_accepted_buy and not is_member
