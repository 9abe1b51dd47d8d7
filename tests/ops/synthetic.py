"""Synthetic marts with the column contract of the indicator, signal and ledger marts (market_state,
signals_daily, orders_eod, fills, positions_daily, portfolio_daily, ...), for report and query tests that
must not depend on those models being built: recent dates, a few symbols, one equity (EEE) without a bar on
the latest session so the coverage test has something to report."""

from __future__ import annotations

import datetime as dt

from rapidtrader.db import DbUrl, connect

SYMBOLS = [("AAA", "Tech"), ("BBB", "Tech"), ("CCC", "Energy"), ("DDD", "Health"), ("EEE", "Financials")]

DDL = """
create table marts.symbols as
select s.symbol, s.symbol || ' Inc' as name, s.sector, 'equity' as asset_class, true as is_active,
       true as is_tradable, null::date as first_d, null::date as last_d, 0::bigint as n_bars
from (values {symbols}, ('SPY', null)) as s (symbol, sector);
update marts.symbols set asset_class = 'etf' where symbol = 'SPY';

create table marts.bars_daily as
with days as (
    select d::date as d, row_number() over (order by d) as i
    from generate_series(%(end)s::date - 400, %(end)s::date, interval '1 day') as d
    where extract(isodow from d) < 6
)
select s.symbol, days.d, 'sample' as source,
       100 + days.i * 0.1 + ascii(s.symbol) - 65 as open, 101 + days.i * 0.1 + ascii(s.symbol) - 65 as high,
       99 + days.i * 0.1 + ascii(s.symbol) - 65 as low, 100.5 + days.i * 0.1 + ascii(s.symbol) - 65 as close,
       1000000 + days.i as volume, 1.0 as adj_factor, 1.0 as split_factor,
       100 + days.i * 0.1 + ascii(s.symbol) - 65 as adj_open, 101 + days.i * 0.1 + ascii(s.symbol) - 65 as adj_high,
       99 + days.i * 0.1 + ascii(s.symbol) - 65 as adj_low, 100.5 + days.i * 0.1 + ascii(s.symbol) - 65 as adj_close
from marts.symbols as s cross join days
where not (s.symbol = 'EEE' and days.d = %(end)s::date);

create table marts.market_state as
select d, 'SPY' as filter_symbol, adj_close as close, adj_close - 5 as sma, true as bull_gate,
       3 as n_buy_candidates, 0 as n_blocked_by_gate
from marts.bars_daily where symbol = 'SPY';

create table marts.signals_daily as
select b.d, b.symbol, st.strategy,
       case when b.symbol in ('AAA', 'CCC') then 'buy' when b.symbol = 'DDD' then 'sell' else 'hold' end as direction,
       0.4 as strength, 25.0 as rsi_14
from marts.bars_daily as b cross join (values ('RSI_MR'), ('SMA_X'), ('COMBINED')) as st (strategy)
where b.symbol <> 'SPY' and b.d >= %(end)s::date - 10;

create table marts.orders_eod (d date, symbol text, side text, qty bigint, order_type text, ref_price float8,
                               reason text, strategy text, rank int);
insert into marts.orders_eod values
    (%(end)s, 'AAA', 'buy', 40, 'market', 130.0, 'entry', 'RSI_MR', 1),
    (%(end)s, 'CCC', 'buy', 0, 'market', 132.0, 'sector_exposure_block', 'RSI_MR', 2),
    (%(end)s, 'BBB', 'buy', 0, 'market', 131.0, 'cash_block', 'SMA_X', 3),
    (%(end)s, 'DDD', 'sell', 25, 'market', 133.0, 'exit', 'COMBINED', null);

create table marts.fills (d date, symbol text, side text, qty bigint, price float8, status text);
insert into marts.fills values
    (%(end)s, 'BBB', 'buy', 30, 129.0, 'filled'),
    (%(end)s, 'EEE', 'stop', 20, 120.0, 'filled'),
    (%(end)s, 'CCC', 'buy', 10, 128.0, 'expired');

create table marts.symbol_events (d date, symbol text, event text);
insert into marts.symbol_events values (%(end)s, 'EEE', 'STOP_HIT'), (%(end)s, 'BBB', 'ENTRY');

create table marts.positions_daily (d date, symbol text, qty bigint, entry_d date, entry_price float8,
                                    stop_price float8, close float8, market_value float8, sector text);
insert into marts.positions_daily values
    (%(end)s, 'BBB', 30, %(end)s, 129.0, 120.0, 131.0, 3930.0, 'Tech'),
    (%(end)s, 'DDD', 25, %(end)s::date - 20, 110.0, 101.0, 133.0, 3325.0, 'Health');

create table marts.portfolio_daily as
select d, 90000 + i * 10.0 as cash, 100000 + 300 * sin(i / 9.0) + i * 5.0 as equity, 7255.0 as gross_exposure,
       0.001 * sin(i / 3.0) as daily_return, greatest(0, 0.02 * sin(i / 11.0)) as drawdown
from (select d, row_number() over (order by d) as i from marts.bars_daily where symbol = 'SPY') as days;

create table marts.sector_exposure_daily (d date, sector text, market_value float8, weight float8);
insert into marts.sector_exposure_daily values
    (%(end)s, 'Tech', 31000.0, 0.31), (%(end)s, 'Health', 3325.0, 0.033);
"""


def last_weekday(today: dt.date | None = None) -> dt.date:
    d = (today or dt.date.today()) - dt.timedelta(days=1)
    while d.weekday() >= 5:
        d -= dt.timedelta(days=1)
    return d


def build(url: DbUrl, end: dt.date | None = None) -> dt.date:
    """Create every contract mart in `url`; returns the latest session."""
    end = end or last_weekday()
    symbols = ", ".join(f"('{s}', '{sector}')" for s, sector in SYMBOLS)
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DDL.replace("{symbols}", symbols), {"end": end})
    conn.close()
    return end
