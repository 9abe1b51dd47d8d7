-- The orders for the next open, published only when the risk tests on orders_proposed pass
-- (dbt build skips this model when one of them fails). Blocked candidates keep qty 0 and their reason.
with

proposed as (

    select * from {{ ref('orders_proposed') }}

),

final as (

    select
        d,
        symbol,
        side,
        qty,
        order_type,
        ref_price,
        reason,
        strategy,
        rank,
        size,
        strength,
        sector

    from proposed

)

select * from final
