-- Guards cash: the day's accepted buys valued at close_D never exceed the cash left after fills and stops.
{{ config(severity='error') }}

select
    d,
    max(cash) as cash,
    sum(ref_price * qty) as bought_value

from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and is_accepted_buy
group by d
having sum(ref_price * qty) > max(cash)
