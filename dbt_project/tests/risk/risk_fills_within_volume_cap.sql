-- Guards the volume cap: no buy fills more shares than RT_MAX_PARTICIPATION of that day's volume
-- (bars_daily), recomputed here from the bars. 0 turns the cap off.
{{ config(severity='error') }}

select
    fills.d,
    fills.symbol,
    fills.qty,
    bars.volume

from {{ ref('fills') }} as fills
left join {{ ref('bars_daily') }} as bars
    on fills.d = bars.d and fills.symbol = bars.symbol
where
    fills.side = 'buy' and fills.status = 'filled'
    and {{ var('rt_max_participation') | float }} > 0
    and (bars.volume is null or fills.qty > floor({{ var('rt_max_participation') | float }} * bars.volume))
