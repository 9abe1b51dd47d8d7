{#
    What a backtest reports from a ledger, once, for the backtest marts (one run) and the parameter sweep
    (many runs, each over several windows): `by` lists the columns that tell the runs apart ([] for a
    backtest; ['sweep_id', 'block', 'run_id'] for a sweep), and every window, join and group keeps them
    apart, so each run's figures are the ones a backtest of that run alone gives.

    rt_ledger_daily(ledger, by)     one row per run and day: equity, cash, exposure, traded value, costs,
                                    the benchmark (RT_BENCHMARK_SYMBOL) bought and held from the run's first
                                    day with the same equity (backtest_daily)
    rt_ledger_trades(ledger, by)    round trips (backtest_trades)
    rt_ledger_summary(daily, trades, by)   the metrics of backtest_summary per run and portfolio
#}

{%- macro _rt_by(by, prefix='') -%}
    {%- for column in by %}{{ prefix }}{{ column }}, {% endfor -%}
{%- endmacro -%}

{%- macro _rt_list(by, prefix='') -%}
    {%- for column in by %}{{ prefix }}{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro -%}

{%- macro _rt_same_run(left, right, by) -%}
    {%- for column in by %} and {{ left }}.{{ column }} = {{ right }}.{{ column }}{% endfor -%}
{%- endmacro -%}


{#- The backtest's equity curve next to the benchmark bought and held: the benchmark holds (first day's
    equity / its first close) units from the close of the run's first day, so both start at the same equity
    on the same day (the strategy's first fills are at the next open). Also the day's traded value (buys,
    sells, stops and delistings at their fill prices) for turnover, and its trading costs (commission paid,
    slippage lost), also summed since the first day. -#}
{% macro rt_ledger_daily(ledger, by) %}
with

-- not materialized: each use filters the ledger on its own, with the table's statistics (a materialized
-- copy is estimated at one row per filter, and the joins of thousands of trades became nested loops)
ledger as not materialized (

    select * from {{ ledger }}

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
        {{ _rt_by(by) }}d,
        sum(qty * price) filter (where status in ('filled', 'delisted')) as traded_value,
        sum(commission) as commission,
        sum(slippage) as slippage

    from ledger
    where record_type = 'fill'
    group by {{ _rt_by(by) }}d

),

joined as (

    select
        {{ _rt_by(by, 'days.') }}days.d,
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
        on days.d = traded.d{{ _rt_same_run('days', 'traded', by) }}
    left join bars
        on days.d = bars.d

    window by_d as ({{ 'partition by ' ~ _rt_list(by, 'days.') if by }} order by days.d)

),

final as (

    select
        {{ _rt_by(by) }}d,
        cash,
        equity,
        market_value,
        (market_value / nullif(equity, 0))::float8 as exposure,
        traded_value,
        commission,
        slippage,
        sum(commission + slippage) over ({{ 'partition by ' ~ by | join(', ') if by }} order by d)
            as cumulative_costs,
        benchmark_close,
        start_equity * benchmark_close / nullif(benchmark_first_close, 0) as benchmark_equity

    from joined

)

select * from final
{% endmacro %}


{#- Round trips: each filled buy paired with the exit (sell, stop or delisting) that closed it. A symbol is
    never bought while held, so its entries and exits alternate: the n-th entry pairs with the n-th exit.
    Trades still open at the end are valued at the last close and flagged is_open. Prices are fill prices
    (slippage included); pnl is net of both fills' commissions. -#}
{% macro rt_ledger_trades(ledger, by) %}
with

-- not materialized: each use filters the ledger on its own, with the table's statistics (a materialized
-- copy is estimated at one row per filter, and the joins of thousands of trades became nested loops)
ledger as not materialized (

    select * from {{ ledger }}

),

-- every filled buy (an entry) and every fill that closed a position (an exit), the n-th of each kind per
-- symbol numbered n
round_trip_fills as (

    select
        {{ _rt_by(by) }}symbol,
        side = 'buy' as is_entry,
        d,
        case when status = 'delisted' then 'delisted' else side end as exit_side,
        qty,
        price,
        coalesce(commission, 0) as commission,
        row_number() over by_symbol_and_kind as trade_no

    from ledger
    where
        record_type = 'fill'
        and (
            (side = 'buy' and status = 'filled')
            or (side in ('sell', 'stop') and status in ('filled', 'delisted'))
        )

    window by_symbol_and_kind as (partition by {{ _rt_by(by) }}symbol, side = 'buy' order by d, seq)

),

-- the n-th entry with the n-th exit: a group, not a join of entries to exits (the planner estimates each
-- at a handful of rows and picked a nested loop that took 5 s for 3,000 trades)
round_trips as (

    select
        {{ _rt_by(by) }}symbol,
        trade_no,
        min(d) filter (where is_entry) as entry_d,
        min(price) filter (where is_entry) as entry_price,
        min(qty) filter (where is_entry) as qty,
        min(commission) filter (where is_entry) as entry_commission,
        min(d) filter (where not is_entry) as exit_d,
        min(exit_side) filter (where not is_entry) as exit_side,
        min(price) filter (where not is_entry) as exit_price,
        min(commission) filter (where not is_entry) as exit_commission

    from round_trip_fills
    group by {{ _rt_by(by) }}symbol, trade_no
    having bool_or(is_entry)

),

final as (

    select
        {{ _rt_by(by, 'round_trips.') }}round_trips.symbol,
        round_trips.trade_no,
        round_trips.entry_d,
        round_trips.entry_price,
        round_trips.qty,
        round_trips.exit_d,
        round_trips.exit_side,
        coalesce(round_trips.exit_price, marks.last_close) as exit_price,
        round_trips.exit_d is null as is_open,
        round_trips.qty * (coalesce(round_trips.exit_price, marks.last_close) - round_trips.entry_price)
        - round_trips.entry_commission - coalesce(round_trips.exit_commission, 0) as pnl,
        round_trips.entry_commission + coalesce(round_trips.exit_commission, 0) as commission,
        (coalesce(round_trips.exit_price, marks.last_close) / round_trips.entry_price - 1)::float8
            as trade_return

    from round_trips
    -- an open trade's last close: its position on the run's last day, looked up for open trades only
    -- (a few per run) through the ledger's index
    left join lateral (
        select positions.close as last_close
        from ledger as positions
        where
            round_trips.exit_d is null
            and positions.record_type = 'position'
            and positions.symbol = round_trips.symbol
            {{- _rt_same_run('positions', 'round_trips', by) }}
            and positions.d = (
                select max(days.d)
                from ledger as days
                where days.record_type = 'day'{{ _rt_same_run('days', 'round_trips', by) }}
            )
        -- a probe per trade: unflattened, the planner merged every trade with the whole ledger's index
        offset 0
    ) as marks on true

)

select * from final
{% endmacro %}


{#- The report, one row for the strategy and one for the benchmark bought and held, per run. Daily returns
    are close-to-close on equity; annualised with 252 sessions a year, risk-free rate 0:
      total_return = last equity / first equity - 1; cagr = (1 + total_return) ^ (365.25 / calendar days) - 1
      ann_vol = stddev_samp(r) x sqrt(252); sharpe = avg(r) / stddev_samp(r) x sqrt(252)
      sortino = avg(r) / sqrt(avg(min(r, 0)^2)) x sqrt(252); max_drawdown = min(equity / running peak - 1)
      win_rate, profit_factor (gross profit / gross loss) and n_trades over closed round trips
      avg_exposure = avg(positions value / equity); turnover = traded value / 2 / avg equity per year
      total_commission, total_slippage: what the strategy paid; return_before_costs = (last equity + those
      costs) / first equity - 1 (costs added back, without the compounding they forwent)
      avg_coverage, min_coverage: universe_coverage_daily over the window (how much of the index had data).
    Float sums depend on the order they add up in, and a plan may feed rows in any order (PostgreSQL 15 and
    18 differ in the last bit): every float aggregate reads its rows by date, so a summary is reproducible. -#}
{% macro rt_ledger_summary(daily, trades, by) %}
{%- set run_keys = by | join(', ') %}
with

series as (

    select
        {{ _rt_by(by) }}'strategy' as portfolio,
        d,
        equity::float8 as equity,
        exposure,
        traded_value::float8 as traded_value,
        commission::float8 as commission,
        slippage::float8 as slippage

    from {{ daily }}

    union all

    select
        {{ _rt_by(by) }}{{ rt_literal('buy_and_hold_' ~ var("rt_benchmark_symbol")) }} as portfolio,
        d,
        benchmark_equity::float8,
        1.0::float8,
        0::float8,
        0::float8,
        0::float8

    from {{ daily }}
    where benchmark_equity is not null

),

returns as (

    select
        *,
        equity / lag(equity) over by_portfolio - 1 as r,
        equity / max(equity) over by_portfolio - 1 as drawdown,
        first_value(equity) over by_portfolio as first_equity

    from series

    window by_portfolio as (partition by {{ _rt_by(by) }}portfolio order by d)

),

stats as (

    select
        {{ _rt_by(by) }}portfolio,
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
    group by {{ _rt_by(by) }}portfolio

),

trade_stats as (

    select
        {{ _rt_by(by) }}'strategy' as portfolio,
        count(*) filter (where not is_open) as n_trades,
        count(*) filter (where is_open) as n_open_trades,
        (count(*) filter (where not is_open and pnl > 0))::float8
        / nullif(count(*) filter (where not is_open), 0) as win_rate,
        (
            sum(pnl) filter (where not is_open and pnl > 0)
            / nullif(-sum(pnl) filter (where not is_open and pnl < 0), 0)
        )::float8 as profit_factor

    from {{ trades }}
    {{ 'group by ' ~ run_keys if by }}

),

run_windows as (

    select
        {{ _rt_by(by) }}min(d) as first_d,
        max(d) as last_d

    from series
    {{ 'group by ' ~ run_keys if by }}

),

coverage as (

    select
        {{ _rt_by(by, 'run_windows.') }}avg(coverage.coverage order by coverage.d) as avg_coverage,
        min(coverage.coverage) as min_coverage

    from run_windows
    left join {{ ref('universe_coverage_daily') }} as coverage
        on coverage.d between run_windows.first_d and run_windows.last_d
    {{ 'group by ' ~ _rt_list(by, 'run_windows.') if by }}

),

final as (

    select
        {{ _rt_by(by, 'stats.') }}stats.portfolio,
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
    {% if by -%}
    inner join coverage
        on true{{ _rt_same_run('stats', 'coverage', by) }}
    {%- else -%}
    cross join coverage
    {%- endif %}
    left join trade_stats
        on stats.portfolio = trade_stats.portfolio{{ _rt_same_run('stats', 'trade_stats', by) }}

)

select * from final
{% endmacro %}
