-- The backtest report, one row for the strategy and one for the benchmark bought and held. Daily
-- returns are close-to-close on equity; annualised with 252 sessions a year, risk-free rate 0:
--   total_return = last equity / first equity - 1; cagr = (1 + total_return) ^ (365.25 / calendar days) - 1
--   ann_vol = stddev_samp(r) x sqrt(252); sharpe = avg(r) / stddev_samp(r) x sqrt(252)
--   sortino = avg(r) / sqrt(avg(min(r, 0)^2)) x sqrt(252); max_drawdown = min(equity / running peak - 1)
--   win_rate, profit_factor (gross profit / gross loss) and n_trades over closed round trips
--   avg_exposure = avg(positions value / equity); turnover = traded value / 2 / avg equity per year
--   total_commission, total_slippage: what the strategy paid; return_before_costs = (last equity + those
--   costs) / first equity - 1 (costs added back, without the compounding they forwent)
--   avg_coverage, min_coverage: universe_coverage_daily over the window (how much of the index had data).
-- Float sums depend on the order they add up in, and a plan may feed rows in any order (PostgreSQL 15 and
-- 18 differ in the last bit): every float aggregate reads its rows by date, so a summary is reproducible.
with

series as (

    select
        'strategy' as portfolio,
        d,
        equity::float8 as equity,
        exposure,
        traded_value::float8 as traded_value,
        commission::float8 as commission,
        slippage::float8 as slippage

    from {{ ref('backtest_daily') }}

    union all

    select
        {{ rt_literal('buy_and_hold_' ~ var("rt_benchmark_symbol")) }} as portfolio,
        d,
        benchmark_equity::float8,
        1.0::float8,
        0::float8,
        0::float8,
        0::float8

    from {{ ref('backtest_daily') }}
    where benchmark_equity is not null

),

returns as (

    select
        *,
        equity / lag(equity) over by_portfolio - 1 as r,
        equity / max(equity) over by_portfolio - 1 as drawdown,
        first_value(equity) over by_portfolio as first_equity

    from series

    window by_portfolio as (partition by portfolio order by d)

),

stats as (

    select
        portfolio,
        min(d) as first_d,
        max(d) as last_d,
        count(*) as n_days,
        max(first_equity) as first_equity,
        (array_agg(equity order by d desc))[1] as last_equity,
        avg(r order by d) as avg_r,
        stddev_samp(r order by d) as sd_r,
        sqrt(avg(least(r, 0) ^ 2 order by d)) as downside_dev,
        min(drawdown) as max_drawdown,
        avg(exposure order by d) as avg_exposure,
        sum(traded_value order by d) as traded_value,
        avg(equity order by d) as avg_equity,
        sum(commission order by d) as total_commission,
        sum(slippage order by d) as total_slippage

    from returns
    group by portfolio

),

trade_stats as (

    select
        'strategy' as portfolio,
        count(*) filter (where not is_open) as n_trades,
        count(*) filter (where is_open) as n_open_trades,
        (count(*) filter (where not is_open and pnl > 0))::float8
        / nullif(count(*) filter (where not is_open), 0) as win_rate,
        (
            sum(pnl) filter (where not is_open and pnl > 0)
            / nullif(-sum(pnl) filter (where not is_open and pnl < 0), 0)
        )::float8 as profit_factor

    from {{ ref('backtest_trades') }}

),

coverage as (

    select
        avg(coverage.coverage order by coverage.d) as avg_coverage,
        min(coverage.coverage) as min_coverage

    from {{ ref('universe_coverage_daily') }} as coverage
    where coverage.d between (select min(d) from series) and (select max(d) from series)

),

final as (

    select
        stats.portfolio,
        stats.first_d,
        stats.last_d,
        stats.n_days,
        stats.first_equity,
        stats.last_equity,
        stats.last_equity / stats.first_equity - 1 as total_return,
        power(stats.last_equity / stats.first_equity, 365.25 / nullif(stats.last_d - stats.first_d, 0)) - 1
            as cagr,
        stats.sd_r * sqrt(252) as ann_vol,
        stats.avg_r / nullif(stats.sd_r, 0) * sqrt(252) as sharpe,
        stats.avg_r / nullif(stats.downside_dev, 0) * sqrt(252) as sortino,
        stats.max_drawdown,
        trade_stats.win_rate,
        trade_stats.profit_factor,
        stats.avg_exposure,
        stats.traded_value / 2 / nullif(stats.avg_equity, 0)
        / nullif((stats.last_d - stats.first_d) / 365.25, 0) as turnover,
        coalesce(trade_stats.n_trades, 1) as n_trades,
        coalesce(trade_stats.n_open_trades, 0) as n_open_trades,
        stats.total_commission,
        stats.total_slippage,
        (stats.last_equity + stats.total_commission + stats.total_slippage) / stats.first_equity - 1
            as return_before_costs,
        coverage.avg_coverage,
        coverage.min_coverage

    from stats
    cross join coverage
    left join trade_stats
        on stats.portfolio = trade_stats.portfolio

)

select * from final
