{{ config(materialized='view') }}

-- Cash, equity and exposure per day of the paper ledger; daily return on equity and drawdown from the
-- running peak; the day's trading costs (commission paid, slippage lost).
with

ledger as (

    select * from {{ ref('ledger') }}

),

days as (

    select * from ledger
    where record_type = 'day'

),

positions as (

    select
        d,
        count(*) as n_positions

    from ledger
    where record_type = 'position'
    group by d

),

costs as (

    select
        d,
        sum(commission) as commission,
        sum(slippage) as slippage

    from ledger
    where record_type = 'fill'
    group by d

),

final as (

    select
        days.d,
        days.cash,
        days.equity,
        days.market_value as gross_exposure,
        (days.market_value / nullif(days.equity, 0))::float8 as gross_exposure_pct,
        coalesce(positions.n_positions, 0) as n_positions,
        (days.equity / nullif(lag(days.equity) over by_d, 0) - 1)::float8 as daily_return,
        (days.equity / nullif(max(days.equity) over by_d, 0) - 1)::float8 as drawdown,
        days.bull_gate,
        coalesce(costs.commission, 0) as commission,
        coalesce(costs.slippage, 0) as slippage

    from days
    left join positions
        on days.d = positions.d
    left join costs
        on days.d = costs.d

    window by_d as (order by days.d)

)

select * from final
