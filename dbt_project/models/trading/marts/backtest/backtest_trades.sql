-- Round trips of the backtest: each filled buy paired with the exit (sell, stop or delisting) that closed
-- it. A symbol is never bought while held, so its entries and exits alternate: the n-th entry pairs with
-- the n-th exit. Trades still open at the end are valued at the last close and flagged is_open. Prices are
-- fill prices (slippage included); pnl is net of both fills' commissions.
with

ledger as (

    select * from {{ ref('backtest_ledger') }}

),

entries as (

    select
        symbol,
        d as entry_d,
        qty,
        price as entry_price,
        coalesce(commission, 0) as entry_commission,
        row_number() over by_symbol as trade_no

    from ledger
    where record_type = 'fill' and side = 'buy' and status = 'filled'

    window by_symbol as (partition by symbol order by d, seq)

),

exits as (

    select
        symbol,
        d as exit_d,
        case when status = 'delisted' then 'delisted' else side end as exit_side,
        price as exit_price,
        coalesce(commission, 0) as exit_commission,
        row_number() over by_symbol as trade_no

    from ledger
    where record_type = 'fill' and side in ('sell', 'stop') and status in ('filled', 'delisted')

    window by_symbol as (partition by symbol order by d, seq)

),

last_marks as (

    select
        symbol,
        close as last_close

    from ledger
    where
        record_type = 'position'
        and d = (select max(d) from ledger where record_type = 'day')

),

final as (

    select
        entries.symbol,
        entries.trade_no,
        entries.entry_d,
        entries.entry_price,
        entries.qty,
        exits.exit_d,
        exits.exit_side,
        coalesce(exits.exit_price, last_marks.last_close) as exit_price,
        exits.exit_d is null as is_open,
        entries.qty * (coalesce(exits.exit_price, last_marks.last_close) - entries.entry_price)
        - entries.entry_commission - coalesce(exits.exit_commission, 0) as pnl,
        entries.entry_commission + coalesce(exits.exit_commission, 0) as commission,
        (coalesce(exits.exit_price, last_marks.last_close) / entries.entry_price - 1)::float8 as trade_return

    from entries
    left join exits
        on entries.symbol = exits.symbol and entries.trade_no = exits.trade_no
    left join last_marks
        on entries.symbol = last_marks.symbol

)

select * from final
