-- Guards cash: the day's accepted buys valued at close_D never exceed the cash left after fills and stops.
{{ config(severity='error') }}

with

orders as (

    select * from {{ ref('orders_proposed') }}

),

by_day as (

    select
        d,
        max(cash) as cash,
        sum(ref_price * qty) as bought_value

    from orders
    where is_accepted_buy
    group by d

)

select * from by_day
where bought_value > cash
