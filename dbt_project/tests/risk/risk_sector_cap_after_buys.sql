-- Guards the sector cap (RT_MAX_EXPOSURE_PER_SECTOR): in every sector where the day accepted a buy,
-- held value at close_D + accepted buys at close_D must stay <= cap x equity_D. Sectors with no accepted
-- buy are not checked: a sector can drift above its cap on prices alone, which no order can cause.
{{ config(severity='error') }}

select
    d,
    sector,
    max(sector_held_value) as held_value,
    sum(ref_price * qty) as bought_value,
    max(sector_cap_value) as cap_value

from {{ ref('orders_proposed') }}
where {{ rt_latest_batch_filter(ref('orders_proposed')) }} and is_accepted_buy
group by d, sector
having max(sector_held_value) + sum(ref_price * qty) > max(sector_cap_value)
