{#
    The paper-trading ledger step (issue 4), as one plpgsql function created by the on-run-start hook.

    intermediate.rt_ledger_advance(...) returns the ledger rows of every calendar day after the last
    day already in `p_state` (or from `p_start` when `p_state` is null, starting from `p_capital`) up to
    `p_end`. It never writes a permanent table: the incremental model `ledger` (nightly) and the
    table model `backtest_ledger` own what it returns. The nightly run and the backtest call the same
    function, so a backtest over a stretch equals the nightly ledger advanced night by night over it.

    One long table, record_type =
      'day'      d, cash_open (yesterday's cash), cash (after fills and stops), market_value, equity, bull_gate
      'fill'     d, seq, symbol, side buy/sell/stop, qty, ordered_qty, price, status filled/expired/rejected_cash
      'event'    d, symbol, event ENTRY/EXIT/STOP_HIT
      'position' d, symbol, qty, entry_d, entry_price, stop_price, close (last known), market_value, sector
      'order'    d, symbol, side buy/sell, qty, size, price (= ref price close_D), reason, strategy, rank,
                 strength, atr (ATR14 of day D, gives the stop when filled), sector

    Money is numeric (prices are the adjusted float8 bars cast to numeric), so cash reconciles exactly
    and reading yesterday's state back from the table loses nothing (parity is exact).
#}
{% macro ledger_create_functions() %}

create schema if not exists intermediate;

create or replace function intermediate.rt_ledger_advance(
    p_bars text,
    p_signals text,
    p_market text,
    p_symbols text,
    p_state text,
    p_start date,
    p_end date,
    p_capital numeric,
    p_atr_stop_k numeric,
    p_enable_stop boolean,
    p_cooldown_days integer,
    p_pct_per_trade numeric,
    p_daily_risk_cap numeric,
    p_max_sector numeric
)
returns table (
    d date,
    record_type text,
    seq integer,
    symbol text,
    side text,
    qty bigint,
    ordered_qty bigint,
    price numeric,
    status text,
    reason text,
    event text,
    strategy text,
    rank integer,
    size bigint,
    strength double precision,
    atr numeric,
    sector text,
    entry_d date,
    entry_price numeric,
    stop_price numeric,
    close numeric,
    market_value numeric,
    cash_open numeric,
    cash numeric,
    equity numeric,
    bull_gate boolean
)
language plpgsql
as $fn$
#variable_conflict use_column
declare
    v_last date;
    v_from date;
    v_to date;
    v_cash numeric;
    v_cash_open numeric;
    v_mv numeric;
    v_equity numeric;
    v_gate boolean;
    v_day date;
    v_day_no integer;
    v_cool_from date;
    v_seq integer;
    v_fill bigint;
    v_proceeds numeric;
    r record;
begin
    drop table if exists
        _rtl_out, _rtl_pos, _rtl_orders, _rtl_stops, _rtl_cal, _rtl_bars, _rtl_sym, _rtl_sig, _rtl_gate;

    create temp table _rtl_out (
        d date, record_type text, seq integer, symbol text, side text, qty bigint, ordered_qty bigint,
        price numeric, status text, reason text, event text, strategy text, rank integer, size bigint,
        strength double precision, atr numeric, sector text, entry_d date, entry_price numeric,
        stop_price numeric, close numeric, market_value numeric, cash_open numeric, cash numeric,
        equity numeric, bull_gate boolean
    ) on commit drop;
    create temp table _rtl_pos (
        symbol text primary key, qty bigint, entry_d date, entry_price numeric, stop_price numeric,
        last_close numeric, sector text
    ) on commit drop;
    create temp table _rtl_orders (
        symbol text, side text, qty bigint, rank integer, atr numeric, sector text
    ) on commit drop;
    create temp table _rtl_stops (d date, symbol text) on commit drop;
    create index on _rtl_stops (symbol, d);
    create temp table _rtl_cal (d date primary key, day_no integer) on commit drop;

    -- Yesterday's state: the last processed day's cash, open positions, orders for the next open, and the
    -- stop history (cooldown). A null state (or an empty one) starts a fresh account from p_start.
    if p_state is not null then
        execute format('select max(d) from %s where record_type = %L', p_state, 'day') into v_last;
    end if;

    if v_last is null then
        v_cash := p_capital;
        v_from := coalesce(p_start, '-infinity'::date);
    else
        v_from := v_last + 1;
        execute format('select cash from %s where record_type = %L and d = $1', p_state, 'day')
            into v_cash using v_last;
        execute format(
            'insert into _rtl_pos select symbol, qty, entry_d, entry_price, stop_price, close, sector'
            ' from %s where record_type = %L and d = $1', p_state, 'position'
        ) using v_last;
        execute format(
            'insert into _rtl_orders select symbol, side, qty, rank, atr, sector'
            ' from %s where record_type = %L and d = $1 and qty > 0', p_state, 'order'
        ) using v_last;
        execute format(
            'insert into _rtl_stops select d, symbol from %s where record_type = %L and event = %L',
            p_state, 'event', 'STOP_HIT'
        );
        execute format('insert into _rtl_cal select d, 0 from %s where record_type = %L', p_state, 'day');
    end if;
    v_to := coalesce(p_end, 'infinity'::date);

    -- Inputs of the new days only: adjusted bars, COMBINED buy/sell signals with sector, the market gate.
    execute format(
        'create temp table _rtl_bars on commit drop as'
        ' select symbol, d, adj_open::numeric as open, adj_high::numeric as high,'
        ' adj_low::numeric as low, adj_close::numeric as close'
        ' from %s where d >= $1 and d <= $2', p_bars
    ) using v_from, v_to;
    create index on _rtl_bars (d, symbol);
    analyze _rtl_bars;

    insert into _rtl_cal select distinct b.d, 0 from _rtl_bars as b;
    update _rtl_cal as c set day_no = n.day_no
    from (select c2.d, (row_number() over (order by c2.d))::integer as day_no from _rtl_cal as c2) as n
    where c.d = n.d;

    -- The symbol lookup goes through an indexed temp table: a freshly built signals table has no
    -- statistics yet, and a nested loop over a seq-scanned symbols table took 40 s on the sample.
    execute format(
        'create temp table _rtl_sym on commit drop as select distinct on (symbol) symbol, sector,'
        ' coalesce(is_tradable, false) and sector is not null as tradable from %s order by symbol',
        p_symbols
    );
    alter table _rtl_sym add primary key (symbol);
    analyze _rtl_sym;
    execute format(
        'create temp table _rtl_sig on commit drop as'
        ' select s.d, s.symbol, s.direction, s.strength::double precision as strength,'
        ' s.close::numeric as close, s.atr_14::numeric as atr, y.sector, coalesce(y.tradable, false) as tradable'
        ' from %s as s left join _rtl_sym as y on y.symbol = s.symbol'
        ' where s.strategy = %L and s.direction in (%L, %L) and s.d >= $1 and s.d <= $2',
        p_signals, 'COMBINED', 'buy', 'sell'
    ) using v_from, v_to;
    create index on _rtl_sig (d);
    analyze _rtl_sig;

    execute format(
        'create temp table _rtl_gate on commit drop as'
        ' select d, bool_and(coalesce(bull_gate, false)) as bull_gate from %s'
        ' where d >= $1 and d <= $2 group by d', p_market
    ) using v_from, v_to;
    create index on _rtl_gate (d);
    analyze _rtl_gate;

    for v_day, v_day_no in select c.d, c.day_no from _rtl_cal as c where c.d >= v_from and c.d <= v_to order by c.d
    loop
        v_cash_open := v_cash;
        -- cooldown: a STOP_HIT on this day or on the p_cooldown_days previous ledger days
        select min(c.d) into v_cool_from from _rtl_cal as c where c.day_no >= v_day_no - p_cooldown_days;

        -- 1a. Sells first: the whole position at today's open; no bar today = the order expires.
        with

        sells as (

            select
                (row_number() over (order by o.symbol))::integer as seq,
                o.symbol,
                o.qty as ordered_qty,
                p.qty as held_qty,
                b.open,
                b.open > 0 as is_filled
            from _rtl_orders as o
            inner join _rtl_pos as p on p.symbol = o.symbol
            left join _rtl_bars as b on b.d = v_day and b.symbol = o.symbol
            where o.side = 'sell'

        ),

        fills as (

            insert into _rtl_out (d, record_type, seq, symbol, side, qty, ordered_qty, price, status)
            select
                v_day, 'fill', seq, symbol, 'sell', case when is_filled then held_qty else 0 end,
                ordered_qty, open, case when is_filled then 'filled' else 'expired' end
            from sells

        ),

        events as (

            insert into _rtl_out (d, record_type, symbol, event)
            select v_day, 'event', symbol, 'EXIT' from sells where is_filled

        ),

        closed as (

            delete from _rtl_pos as p
            using sells
            where sells.is_filled and sells.symbol = p.symbol

        )

        select coalesce(max(seq), 0), coalesce(sum(held_qty * open) filter (where is_filled), 0)
        into v_seq, v_proceeds
        from sells;
        v_cash := v_cash + v_proceeds;

        -- 1b. Buys in rank order: qty = min(ordered, floor(cash / open)); 0 = rejected for cash.
        for r in
            select o.symbol, o.qty, o.atr, o.sector, b.open
            from _rtl_orders as o
            left join _rtl_bars as b on b.d = v_day and b.symbol = o.symbol
            where o.side = 'buy'
            order by o.rank
        loop
            v_seq := v_seq + 1;
            if r.open is null or r.open <= 0 then
                insert into _rtl_out (d, record_type, seq, symbol, side, qty, ordered_qty, price, status)
                values (v_day, 'fill', v_seq, r.symbol, 'buy', 0, r.qty, null, 'expired');
            else
                v_fill := least(r.qty, floor(v_cash / r.open)::bigint);
                if v_fill <= 0 then
                    insert into _rtl_out (d, record_type, seq, symbol, side, qty, ordered_qty, price, status)
                    values (v_day, 'fill', v_seq, r.symbol, 'buy', 0, r.qty, r.open, 'rejected_cash');
                else
                    v_cash := v_cash - v_fill * r.open;
                    insert into _rtl_out (d, record_type, seq, symbol, side, qty, ordered_qty, price, status)
                    values (v_day, 'fill', v_seq, r.symbol, 'buy', v_fill, r.qty, r.open, 'filled');
                    insert into _rtl_out (d, record_type, symbol, event)
                    values (v_day, 'event', r.symbol, 'ENTRY');
                    insert into _rtl_pos (symbol, qty, entry_d, entry_price, stop_price, last_close, sector)
                    values (r.symbol, v_fill, v_day, r.open, r.open - p_atr_stop_k * r.atr, r.open, r.sector);
                end if;
            end if;
        end loop;

        -- 2. Stops: low <= stop exits at min(open, stop), also for a position bought this morning.
        if p_enable_stop then
            with

            hit as (

                delete from _rtl_pos as p
                using _rtl_bars as b
                where b.d = v_day and b.symbol = p.symbol and b.low <= p.stop_price
                returning p.symbol, p.qty, least(b.open, p.stop_price) as px

            ),

            numbered as (

                select hit.*, v_seq + (row_number() over (order by hit.symbol))::integer as seq from hit

            ),

            fills as (

                insert into _rtl_out (d, record_type, seq, symbol, side, qty, ordered_qty, price, status)
                select v_day, 'fill', seq, symbol, 'stop', qty, qty, px, 'filled' from numbered

            ),

            events as (

                insert into _rtl_out (d, record_type, symbol, event)
                select v_day, 'event', symbol, 'STOP_HIT' from numbered

            ),

            remembered as (

                insert into _rtl_stops select v_day, symbol from numbered

            )

            select coalesce(sum(qty * px), 0) into v_proceeds from numbered;
            v_cash := v_cash + v_proceeds;
        end if;

        -- 3. Mark to market at the close (last known close when a symbol has no bar today).
        update _rtl_pos as p set last_close = b.close
        from _rtl_bars as b
        where b.d = v_day and b.symbol = p.symbol and b.close is not null;
        select coalesce(sum(p.qty * p.last_close), 0) into v_mv from _rtl_pos as p;
        v_equity := v_cash + v_mv;
        select g.bull_gate into v_gate from _rtl_gate as g where g.d = v_day;
        v_gate := coalesce(v_gate, false);

        insert into _rtl_out (d, record_type, cash_open, cash, market_value, equity, bull_gate)
        values (v_day, 'day', v_cash_open, v_cash, v_mv, v_equity, v_gate);

        insert into _rtl_out (
            d, record_type, symbol, qty, entry_d, entry_price, stop_price, close, market_value, sector
        )
        select v_day, 'position', p.symbol, p.qty, p.entry_d, p.entry_price, p.stop_price, p.last_close,
            p.qty * p.last_close, p.sector
        from _rtl_pos as p;

        -- 4. Orders for tomorrow from today's COMBINED signal (set-based; the rules of issue 4). They
        -- replace the orders just filled; those with qty > 0 are the ones the next open will fill.
        delete from _rtl_orders;

        with

        signals as (

            select s.* from _rtl_sig as s where s.d = v_day

        ),

        sells as (

            select s.symbol, 'sell' as side, p.qty, null::bigint as size, s.close as price,
                'exit' as reason, null::integer as rank, s.strength, s.atr, p.sector
            from signals as s
            inner join _rtl_pos as p on p.symbol = s.symbol
            where s.direction = 'sell'

        ),

        candidates as (

            select
                s.symbol,
                s.strength,
                s.close,
                s.atr,
                s.sector,
                case
                    when s.close > 0 and s.atr > 0
                        then least(
                            floor(v_equity * p_pct_per_trade / s.close),
                            floor(v_equity * p_daily_risk_cap / (p_atr_stop_k * s.atr))
                        )::bigint
                end as size,
                exists (
                    select 1 from _rtl_stops as e where e.symbol = s.symbol and e.d >= v_cool_from
                ) as in_cooldown
            from signals as s
            where s.direction = 'buy' and s.tradable
                and not exists (select 1 from _rtl_pos as p where p.symbol = s.symbol)

        ),

        checked as (

            select
                *,
                case
                    when not v_gate then 'market_gate_block'
                    when in_cooldown then 'cooldown_block'
                    when size is null or size <= 0 then 'zero_size'
                end as early_block
            from candidates

        ),

        ranked as (

            select
                *,
                (row_number() over (order by strength desc nulls last, symbol))::integer as rank
            from checked
            where early_block is null

        ),

        sector_held as (

            select p.sector, sum(p.qty * p.last_close) as held_value
            from _rtl_pos as p
            group by p.sector

        ),

        sector_checked as (

            select
                ranked.*,
                coalesce(sector_held.held_value, 0)
                + sum(ranked.close * ranked.size) over by_sector_rank
                <= p_max_sector * v_equity as sector_ok
            from ranked
            left join sector_held on sector_held.sector = ranked.sector
            window by_sector_rank as (partition by ranked.sector order by ranked.rank)

        ),

        cash_checked as (

            select
                *,
                sum(case when sector_ok then close * size else 0 end) over by_rank <= v_cash as cash_ok
            from sector_checked
            window by_rank as (order by rank)

        ),

        buys as (

            select symbol, 'buy' as side,
                case when sector_ok and cash_ok then size else 0 end as qty,
                size, close as price,
                case when not sector_ok then 'sector_exposure_block' when not cash_ok then 'cash_block'
                    else 'entry' end as reason,
                rank, strength, atr, sector
            from cash_checked

            union all

            select symbol, 'buy', 0, size, close, early_block, null, strength, atr, sector
            from checked
            where early_block is not null

        ),

        written as (

            insert into _rtl_out (
                d, record_type, symbol, side, qty, size, price, reason, strategy, rank, strength, atr, sector
            )
            select v_day, 'order', symbol, side, qty, size, price, reason, 'COMBINED', rank, strength, atr, sector
            from sells
            union all
            select v_day, 'order', symbol, side, qty, size, price, reason, 'COMBINED', rank, strength, atr, sector
            from buys
            returning symbol, side, qty, rank, atr, sector

        )

        insert into _rtl_orders
        select symbol, side, qty, rank, atr, sector
        from written
        where qty > 0;
    end loop;

    return query select * from _rtl_out;
end;
$fn$;

{% endmacro %}
