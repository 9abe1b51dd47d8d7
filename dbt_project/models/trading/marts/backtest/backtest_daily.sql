-- The backtest's equity curve next to RT_BENCHMARK_SYMBOL (SPY) bought and held: the benchmark holds
-- (first day's equity / its first close) units from the close of the backtest's first day, so both start
-- at the same equity on the same day (the strategy's first fills are at the next open). Also the day's
-- traded value (buys, sells, stops and delistings at their fill prices) for turnover, and its trading
-- costs (commission paid, slippage lost), also summed since the first day.
with

ledger as (

    select * from {{ ref('backtest_ledger') }}

),

bars as (

    select * from {{ ref('bars_daily') }}
    where symbol = {{ rt_literal(var("rt_benchmark_symbol")) }}

),

days as (

    select * from ledger
    where record_type = 'day'

),

traded as (

    select
        d,
        sum(qty * price) filter (where status in ('filled', 'delisted')) as traded_value,
        sum(commission) as commission,
        sum(slippage) as slippage

    from ledger
    where record_type = 'fill'
    group by d

),

joined as (

    select
        days.d,
        days.cash,
        days.equity,
        days.market_value,
        coalesce(traded.traded_value, 0) as traded_value,
        coalesce(traded.commission, 0) as commission,
        coalesce(traded.slippage, 0) as slippage,
        bars.adj_close::numeric as benchmark_close,
        first_value(days.equity) over by_d as start_equity,
        first_value(bars.adj_close::numeric) over by_d as benchmark_first_close

    from days
    left join traded
        on days.d = traded.d
    left join bars
        on days.d = bars.d

    window by_d as (order by days.d)

),

final as (

    select
        d,
        cash,
        equity,
        market_value,
        (market_value / nullif(equity, 0))::float8 as exposure,
        traded_value,
        commission,
        slippage,
        sum(commission + slippage) over (order by d) as cumulative_costs,
        benchmark_close,
        start_equity * benchmark_close / nullif(benchmark_first_close, 0) as benchmark_equity

    from joined

)

select * from final
