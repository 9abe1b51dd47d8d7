-- The orders for the next open, published only when the risk tests on orders_proposed pass (dbt build
-- skips this model when one of them fails). Blocked candidates keep qty 0 and their reason.
-- Incremental: each build appends the newest ledger day's orders, and the earlier days after the last
-- published one whose orders the ledger released itself (days it proposed and filled in one run: a first
-- build, a catch-up after missed nights). A day whose orders were held back by failed risk tests is never
-- appended: the next night's ledger expired them unfilled. The post-hook marks the appended days' order
-- rows in the ledger as published, which is what lets the next night's ledger fill them.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['d', 'symbol'], 'unique': true}],
        post_hook="{{ rt_mark_orders_published(ref('ledger'), this) }}",
    )
}}

with

proposed as (

    select * from {{ ref('orders_proposed') }}
    {% if is_incremental() %}
    where d > (select coalesce(max(published.d), '-infinity'::date) from {{ this }} as published)
    {% endif %}

),

newest as (

    select max(d) as d
    from proposed

),

final as (

    select
        proposed.d,
        proposed.symbol,
        proposed.side,
        proposed.qty,
        proposed.order_type,
        proposed.ref_price,
        proposed.reason,
        proposed.strategy,
        proposed.rank,
        proposed.size,
        proposed.strength,
        proposed.sector

    from proposed
    cross join newest
    where proposed.is_released or proposed.d = newest.d

)

select * from final
