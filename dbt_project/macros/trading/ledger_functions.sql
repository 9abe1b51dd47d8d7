{#
    The paper-trading ledger as plpgsql, created by the on-run-start hook: one function per step of the
    rules in the README ("The paper ledger"), one driver that runs them day by day, and one row type.

    udf.rt_ledger_advance_v2(inputs, state, window, runs, publish_last) returns (run_id, entry
    udf.rt_ledger_row_v2) for every trading day after the last day already in `p_state` (or from `p_start`
    when `p_state` is null, starting from each run's capital) up to `p_end`. It never writes a permanent table: the incremental
    model `ledger` (nightly) and the table `backtest_ledger` own what it returns, so a backtest over a
    stretch equals the nightly ledger advanced night by night over it.

    Every step is set-based over (run_id, symbol): `p_runs` is a JSON array of settings, one object per
    run ({"run_id", "capital", "atr_stop_k", "enable_stop", "cooldown_days", "pct_per_trade",
    "daily_risk_cap", "max_sector", "universe_mode", "slippage_bps", "commission_min",
    "commission_per_share", "commission_max_pct", "max_participation", "delist_sessions"}, and for a
    parameter sweep "signal_set", "market_filter" and "lean"); the nightly ledger and a backtest are one
    run. A lean run returns only the orders it placed (qty > 0) and its last day's positions, not every
    blocked candidate and every day's positions (a sweep of 100 runs would return millions of rows).
    A sweep's runs may trade different signals and gates: when the signals relation has a column
    signal_set, a run trades the rows of its own signal_set (absent: every run reads set 0), and a run's
    market_filter true/false opens the gate on close_above_sma of the market relation / on every day it
    lists (absent: its bull_gate). Per-run state lives
    in temp tables keyed by run_id (dropped at commit):
      _rtl_runs    settings and the running cash, equity, fill sequence of each run
      _rtl_pos     open positions          _rtl_orders  orders for the next open
      _rtl_stops   stop history (cooldown) _rtl_out     the rows returned
      _rtl_cand    the day's checked buy candidates
    and the inputs of the window in _rtl_cal (ledger days), _rtl_bars (the bars as stored, read in exact
    numeric through the view _rtl_bar_prices), _rtl_sig (COMBINED signals with
    sector and each day's rank order of buys, buy_order), _rtl_gate (the market gate).

    record_type of a row says which columns it fills:
      'day'      d, cash_open (yesterday's cash), cash (after fills and stops), market_value, equity, bull_gate
      'fill'     d, seq, symbol, side buy/sell/stop, qty, ordered_qty, price (after slippage), status
                 filled/expired/rejected_cash/rejected_volume/delisted, commission, slippage (its cost:
                 qty x the price difference slippage made); reason 'not_published' on an order the
                 risk tests kept from being published
      'event'    d, symbol, event ENTRY/EXIT/STOP_HIT/DELISTED
      'position' d, symbol, qty, entry_d, entry_price, stop_price, close (last known), market_value, sector,
                 bars_missing (ledger days in a row without a clean bar)
      'order'    d, symbol, side buy/sell, qty, size, price (= ref price close_D), reason, strategy, rank,
                 strength, atr (ATR14 of day D, gives the stop when filled), sector; status 'published'
                 once released to trade: by this call when it also fills them (every day but the last),
                 by `p_publish_last` (a backtest), or by orders_eod's post-hook (nightly, when the risk
                 tests pass)

    Money is numeric (prices are the adjusted float8 bars cast to numeric), so cash reconciles exactly and
    reading yesterday's state back from the table loses nothing (parity is exact).

    Names are versioned (_v2) like the Wilder aggregate: a change of behaviour gets a new name, so a
    database never runs a mix of old and new steps.
#}
{% macro ledger_create_functions() %}

create schema if not exists udf;

do $types$
begin
    if to_regtype('udf.rt_ledger_row_v2') is null then
        create type udf.rt_ledger_row_v2 as (
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
            bull_gate boolean,
            commission numeric,
            slippage numeric,
            bars_missing integer
        );
    end if;
end
$types$;


-- Commission of one fill of q shares at price p: min(max(minimum, q x per share), max_pct x q x p); none
-- for no shares.
create or replace function udf.rt_commission_v2(
    q bigint, p numeric, c_min numeric, c_per_share numeric, c_max_pct numeric
)
returns numeric
language sql
immutable
as $fn$
    select case when q > 0 then least(greatest(c_min, q * c_per_share), c_max_pct * q * p) else 0 end
$fn$;


-- The largest q <= q_limit whose cost q x p + commission(q, p) fits in cash. The cost never decreases
-- with q, so q fits when either the commission-at-floor-or-per-share bound or the percentage-cap bound
-- holds; numeric division can round a quotient up by one unit, so the result is checked exactly.
create or replace function udf.rt_buy_qty_v2(
    q_limit bigint, cash numeric, p numeric, c_min numeric, c_per_share numeric, c_max_pct numeric
)
returns bigint
language plpgsql
immutable
as $fn$
declare
    q bigint;
begin
    q := least(
        q_limit,
        greatest(
            least(floor((cash - c_min) / p), floor(cash / (p + c_per_share))),
            floor(cash / (p * (1 + c_max_pct)))
        )::bigint
    );
    while q > 0 and q * p + udf.rt_commission_v2(q, p, c_min, c_per_share, c_max_pct) > cash loop
        q := q - 1;
    end loop;
    return greatest(q, 0);
end;
$fn$;


-- Books the fill rows a step just numbered (seq after the run's last booked one): buys pay qty x price +
-- commission, sells, stops and delistings receive qty x price - commission; the next step numbers on.
create or replace function udf.rt_ledger_book_fills_v2(p_day date)
returns void
language plpgsql
as $fn$
begin
    update _rtl_runs as r
    set
        cash = r.cash + f.cash,
        seq = f.last_seq
    from (
        select
            o.run_id,
            max(o.seq) as last_seq,
            sum(
                case
                    when o.status not in ('filled', 'delisted') then 0
                    when o.side = 'buy' then -(o.qty * o.price + o.commission)
                    else o.qty * o.price - o.commission
                end
            ) as cash
        from _rtl_out as o
        inner join _rtl_runs as booked on booked.run_id = o.run_id
        where o.d = p_day and o.record_type = 'fill' and o.seq > booked.seq
        group by o.run_id
    ) as f
    where f.run_id = r.run_id;
end;
$fn$;


-- Step 1: yesterday's orders at today's open. Sells first (the whole position; no bar = expired), then
-- buys in rank order, qty = min(ordered, floor(cash / open)), 0 = rejected_cash, no bar = expired. A
-- filled buy opens a position with a fixed stop = open - atr_stop_k x ATR14 of the signal day. An order
-- read from an earlier night that orders_eod never published expires unfilled.
create or replace function udf.rt_ledger_fill_orders_v2(p_day date)
returns void
language plpgsql
as $fn$
begin
    delete from _rtl_sells;
    insert into _rtl_sells
    select
        o.run_id,
        (row_number() over (partition by o.run_id order by o.symbol))::integer as seq,
        o.symbol,
        o.qty as ordered_qty,
        p.qty as held_qty,
        b.open,
        b.open * (1 - r.slippage),
        o.published,
        coalesce(o.published and b.open > 0, false) as is_filled
    from _rtl_orders as o
    inner join _rtl_pos as p on p.run_id = o.run_id and p.symbol = o.symbol
    inner join _rtl_runs as r on r.run_id = o.run_id
    left join _rtl_bar_prices as b on b.d = p_day and b.symbol = o.symbol
    where o.side = 'sell';

    insert into _rtl_out (
        run_id, d, record_type, seq, symbol, side, qty, ordered_qty, price, status, reason, commission, slippage
    )
    select
        s.run_id, p_day, 'fill', s.seq, s.symbol, 'sell', case when s.is_filled then s.held_qty else 0 end,
        s.ordered_qty, case when s.is_filled then s.price else s.open end,
        case when s.is_filled then 'filled' else 'expired' end,
        case when not s.published then 'not_published' end,
        case when s.is_filled then udf.rt_commission_v2(
            s.held_qty, s.price, r.commission_min, r.commission_per_share, r.commission_max_pct
        ) else 0 end,
        case when s.is_filled then s.held_qty * (s.open - s.price) else 0 end
    from _rtl_sells as s
    inner join _rtl_runs as r on r.run_id = s.run_id;

    insert into _rtl_out (run_id, d, record_type, symbol, event)
    select run_id, p_day, 'event', symbol, 'EXIT' from _rtl_sells where is_filled;

    delete from _rtl_pos as p
    using _rtl_sells as s
    where s.is_filled and s.run_id = p.run_id and s.symbol = p.symbol;

    perform udf.rt_ledger_book_fills_v2(p_day);

    -- Buys in rank order within each run: the k-th buy sees the cash the (k-1) before it left. One
    -- recursion step handles the k-th buy of every run at once. The price is the open plus slippage; the
    -- quantity is the largest that the order, the volume cap and the cash (with commission) all allow.
    delete from _rtl_buys;
    with recursive

    buys as (

        select
            o.run_id,
            (row_number() over (partition by o.run_id order by o.rank))::integer as k,
            o.symbol,
            o.qty,
            o.atr,
            o.sector,
            o.published,
            b.open,
            b.open * (1 + r.slippage) as price,
            case
                when r.max_participation > 0 then floor(r.max_participation * b.volume)::bigint
                else o.qty
            end as volume_cap,
            r.commission_min,
            r.commission_per_share,
            r.commission_max_pct
        from _rtl_orders as o
        inner join _rtl_runs as r on r.run_id = o.run_id
        left join _rtl_bar_prices as b on b.d = p_day and b.symbol = o.symbol
        where o.side = 'buy'

    ),

    filled (run_id, k, cash, symbol, ordered_qty, qty, open, price, commission, atr, sector, status, reason) as (

        select
            r.run_id, 0, r.cash, null::text, null::bigint, null::bigint, null::numeric, null::numeric,
            null::numeric, null::numeric, null::text, null::text, null::text
        from _rtl_runs as r

        union all

        select
            f.run_id,
            b.k,
            f.cash - coalesce(x.fill_qty * b.price + x.commission, 0),
            b.symbol,
            b.qty,
            coalesce(x.fill_qty, 0),
            b.open,
            b.price,
            coalesce(x.commission, 0),
            b.atr,
            b.sector,
            case
                when not b.published or b.open is null or b.open <= 0 then 'expired'
                when b.volume_cap <= 0 then 'rejected_volume'
                when x.fill_qty > 0 then 'filled'
                else 'rejected_cash'
            end,
            case when not b.published then 'not_published' end
        from filled as f
        inner join buys as b on b.run_id = f.run_id and b.k = f.k + 1
        cross join lateral (
            select
                q.fill_qty,
                udf.rt_commission_v2(
                    q.fill_qty, b.price, b.commission_min, b.commission_per_share, b.commission_max_pct
                ) as commission
            from (
                select
                    case
                        when b.published and b.open > 0 and b.volume_cap > 0
                            then udf.rt_buy_qty_v2(
                                least(b.qty, b.volume_cap), f.cash, b.price, b.commission_min,
                                b.commission_per_share, b.commission_max_pct
                            )
                    end as fill_qty
            ) as q
        ) as x

    )

    insert into _rtl_buys
    select * from filled where k > 0;

    insert into _rtl_out (
        run_id, d, record_type, seq, symbol, side, qty, ordered_qty, price, status, reason, commission, slippage
    )
    select
        b.run_id, p_day, 'fill', r.seq + b.k, b.symbol, 'buy', b.qty, b.ordered_qty,
        case when b.status = 'expired' then null when b.status = 'filled' then b.price else b.open end,
        b.status, b.reason, b.commission, coalesce(b.qty * (b.price - b.open), 0)
    from _rtl_buys as b
    inner join _rtl_runs as r on r.run_id = b.run_id;

    insert into _rtl_out (run_id, d, record_type, symbol, event)
    select run_id, p_day, 'event', symbol, 'ENTRY' from _rtl_buys where status = 'filled';

    insert into _rtl_pos (run_id, symbol, qty, entry_d, entry_price, stop_price, last_close, sector, bars_missing)
    select b.run_id, b.symbol, b.qty, p_day, b.price, b.open - r.atr_stop_k * b.atr, b.open, b.sector, 0
    from _rtl_buys as b
    inner join _rtl_runs as r on r.run_id = b.run_id
    where b.status = 'filled';

    perform udf.rt_ledger_book_fills_v2(p_day);
end;
$fn$;


-- Step 2: stops and delistings. A position whose low today is at or below its stop is sold at
-- min(open, stop) less slippage (a gap down fills at the open), also a position bought this morning;
-- STOP_HIT starts the cooldown. A position whose symbol has had no clean bar for delist_sessions ledger
-- days in a row is sold on that day at its last clean close less slippage (status delisted, DELISTED).
create or replace function udf.rt_ledger_stops_v2(p_day date)
returns void
language plpgsql
as $fn$
begin
    -- only the positions whose count changes: an update writes a new row version that stays until commit
    update _rtl_pos as p
    set bars_missing = p.bars_missing + 1
    where not exists (select 1 from _rtl_bars as b where b.d = p_day and b.symbol = p.symbol);

    update _rtl_pos as p
    set bars_missing = 0
    where p.bars_missing > 0 and exists (select 1 from _rtl_bars as b where b.d = p_day and b.symbol = p.symbol);

    delete from _rtl_hit;
    insert into _rtl_hit
    select
        h.run_id,
        h.symbol,
        h.qty,
        h.ref_px,
        h.ref_px * (1 - r.slippage),
        h.kind,
        r.seq + (row_number() over (partition by h.run_id order by h.kind_order, h.symbol))::integer
    from (
        select p.run_id, p.symbol, p.qty, least(b.open, p.stop_price) as ref_px, 'stop' as kind, 1 as kind_order
        from _rtl_pos as p
        inner join _rtl_runs as r on r.run_id = p.run_id
        inner join _rtl_bar_prices as b on b.d = p_day and b.symbol = p.symbol
        where r.enable_stop and b.low <= p.stop_price

        union all

        select p.run_id, p.symbol, p.qty, p.last_close, 'delisted', 2
        from _rtl_pos as p
        inner join _rtl_runs as r on r.run_id = p.run_id
        where r.delist_sessions > 0 and p.bars_missing >= r.delist_sessions
    ) as h
    inner join _rtl_runs as r on r.run_id = h.run_id;

    insert into _rtl_out (
        run_id, d, record_type, seq, symbol, side, qty, ordered_qty, price, status, commission, slippage
    )
    select
        h.run_id, p_day, 'fill', h.seq, h.symbol, case when h.kind = 'stop' then 'stop' else 'sell' end,
        h.qty, h.qty, h.price, case when h.kind = 'stop' then 'filled' else 'delisted' end,
        udf.rt_commission_v2(h.qty, h.price, r.commission_min, r.commission_per_share, r.commission_max_pct),
        h.qty * (h.ref_px - h.price)
    from _rtl_hit as h
    inner join _rtl_runs as r on r.run_id = h.run_id;

    insert into _rtl_out (run_id, d, record_type, symbol, event)
    select run_id, p_day, 'event', symbol, case when kind = 'stop' then 'STOP_HIT' else 'DELISTED' end
    from _rtl_hit;

    insert into _rtl_stops (run_id, d, symbol)
    select run_id, p_day, symbol from _rtl_hit where kind = 'stop';

    delete from _rtl_pos as p
    using _rtl_hit as h
    where h.run_id = p.run_id and h.symbol = p.symbol;

    perform udf.rt_ledger_book_fills_v2(p_day);
end;
$fn$;


-- Step 3: mark to market at the close (the last known close for a symbol without a bar today); writes
-- the day row and the position rows.
create or replace function udf.rt_ledger_mark_to_market_v2(p_day date)
returns void
language plpgsql
as $fn$
begin
    update _rtl_pos as p
    set last_close = b.close
    from _rtl_bar_prices as b
    where b.d = p_day and b.symbol = p.symbol and b.close is not null;

    update _rtl_runs as r
    set
        market_value = coalesce(v.market_value, 0),
        equity = r.cash + coalesce(v.market_value, 0),
        gate = coalesce(
            (
                select case r.market_filter when true then g.close_above_sma when false then true else g.bull_gate end
                from _rtl_gate as g
                where g.d = p_day
            ),
            false
        )
    from _rtl_runs as runs
    left join (
        select run_id, sum(qty * last_close) as market_value
        from _rtl_pos
        group by run_id
    ) as v on v.run_id = runs.run_id
    where runs.run_id = r.run_id;

    insert into _rtl_out (run_id, d, record_type, cash_open, cash, market_value, equity, bull_gate)
    select run_id, p_day, 'day', cash_open, cash, market_value, equity, gate
    from _rtl_runs;

    insert into _rtl_out (
        run_id, d, record_type, symbol, qty, entry_d, entry_price, stop_price, close, market_value, sector,
        bars_missing
    )
    select
        p.run_id, p_day, 'position', p.symbol, p.qty, p.entry_d, p.entry_price, p.stop_price, p.last_close,
        p.qty * p.last_close, p.sector, p.bars_missing
    from _rtl_pos as p
    inner join _rtl_runs as r on r.run_id = p.run_id
    -- a lean run (a sweep's) keeps the positions of its last day only
    where not r.lean or p_day = (select max(c.d) from _rtl_cal as c);
end;
$fn$;


-- The buy checks of the runs in p_runs (null: every run) into _rtl_cand, in _rtl_sig's buy_order (the
-- rank order: strength desc, symbol). A lean run (a sweep's) reads only the buy signals with buy_order <=
-- p_lean_limit: it keeps only the orders it places, and the cash prefix rule places none after the first
-- candidate that does not fit in cash (the sum it checks only grows), so when that candidate is among
-- them, or they are all the day's buy signals, the rows it keeps are the same as from every signal.
create or replace function udf.rt_ledger_check_buys_v2(
    p_day date, p_day_no integer, p_runs integer[], p_lean_limit integer
)
returns void
language plpgsql
-- the temp tables change size every day and their CTEs are estimated at a row or two, so the planner would
-- pick nested loops that rescan a table per candidate: over a sweep's thousands of (run, candidate) rows a
-- day, hash joins are always the right plan
set enable_nestloop = off
as $fn$
begin
    insert into _rtl_cand

    with

    signals as (

        select s.*
        from _rtl_sig as s
        where s.d = p_day and s.direction = 'buy' and s.tradable

    ),

    -- materialized: the cooldown start is one lookup per run, not one per candidate. day_no numbers the
    -- days in date order, so the earliest day from day_no p_day_no - cooldown_days on is the first one in
    -- day_no order, read through the index on day_no: min(d) was planned as a walk of the d index from the
    -- window's first day, checking day_no row by row, longer every day (a 50-run sweep shard over five
    -- years: checking buys 22.3 s -> 19.4 s)
    runs as materialized (

        select
            r.*,
            (
                select c.d from _rtl_cal as c
                where c.day_no >= p_day_no - r.cooldown_days
                order by c.day_no
                limit 1
            ) as cool_from,
            case when r.lean then p_lean_limit end as order_limit
        from _rtl_runs as r
        where p_runs is null or r.run_id = any(p_runs)

    ),

    -- materialized, like cooling: the checks below are hash joins over a few hundred rows, not one index
    -- probe per candidate and run (the candidates are every buy signal times every run of a sweep)
    held as materialized (

        select p.run_id, p.symbol from _rtl_pos as p

    ),

    -- the stops of the last days only (through the index on d), not the whole stop history
    cooling as materialized (

        select distinct e.run_id, e.symbol
        from _rtl_stops as e
        inner join runs on runs.run_id = e.run_id
        where e.d >= runs.cool_from and e.d >= (select min(r.cool_from) from runs as r)

    ),

    candidates as (

        select
            runs.run_id,
            runs.lean,
            runs.equity,
            runs.cash,
            runs.max_sector,
            s.symbol,
            s.buy_order,
            s.strength,
            s.close,
            s.atr,
            s.sector,
            case
                when s.close > 0 and s.atr > 0
                    then least(
                        floor(runs.equity * runs.pct_per_trade / s.close),
                        floor(runs.equity * runs.daily_risk_cap / (runs.atr_stop_k * s.atr))
                    )::bigint
            end as size,
            case
                when not case runs.universe_mode
                    when 'pit' then s.is_member_pit when 'current' then s.is_member_current else false
                end then 'not_in_universe'
                when not runs.gate then 'market_gate_block'
                when cooling.symbol is not null then 'cooldown_block'
            end as gate_block
        from signals as s
        inner join runs on runs.signal_set = s.signal_set
        left join held on held.run_id = runs.run_id and held.symbol = s.symbol
        left join cooling on cooling.run_id = runs.run_id and cooling.symbol = s.symbol
        where held.symbol is null and (runs.order_limit is null or s.buy_order <= runs.order_limit)

    ),

    checked as materialized (

        select
            *,
            coalesce(gate_block, case when size is null or size <= 0 then 'zero_size' end) as early_block
        from candidates

    ),

    ranked as (

        select
            *,
            (row_number() over (partition by run_id order by buy_order))::integer as rank
        from checked
        where early_block is null

    ),

    sector_held as (

        select p.run_id, p.sector, sum(p.qty * p.last_close) as held_value
        from _rtl_pos as p
        group by p.run_id, p.sector

    ),

    sector_checked as (

        select
            ranked.*,
            coalesce(sector_held.held_value, 0)
            + sum(ranked.close * ranked.size) over by_sector_rank
            <= ranked.max_sector * ranked.equity as sector_ok
        from ranked
        left join sector_held on sector_held.run_id = ranked.run_id and sector_held.sector = ranked.sector
        window by_sector_rank as (partition by ranked.run_id, ranked.sector order by ranked.rank)

    ),

    cash_checked as (

        select
            *,
            sum(case when sector_ok then close * size else 0 end) over by_rank <= cash as cash_ok
        from sector_checked
        window by_rank as (partition by run_id order by rank)

    )

    select
        run_id, symbol, case when sector_ok and cash_ok then size else 0 end, size, close,
        case when not sector_ok then 'sector_exposure_block' when not cash_ok then 'cash_block' else 'entry' end,
        rank, strength, atr, sector, cash_ok
    from cash_checked

    union all

    -- a lean run keeps only the orders it places
    select run_id, symbol, 0, size, close, early_block, null, strength, atr, sector, null
    from checked
    where early_block is not null and not lean;
end;
$fn$;


-- Step 4: orders for tomorrow from today's COMBINED signal. Every held symbol whose signal is sell gets
-- a sell of the whole position (also when the gate is closed). Buy candidates (buy signal, not held,
-- tradable) are checked in order: not an index member today (not_in_universe; the run's universe_mode
-- says which membership), gate closed (market_gate_block), stopped today or on the previous
-- cooldown_days ledger days (cooldown_block), no positive size (zero_size); the rest are ranked by
-- strength (desc), symbol, and accepted under the sector-cap prefix rule, then the cash prefix rule
-- (sector_exposure_block, cash_block). Every candidate gets an order row; those with qty > 0 replace the
-- orders just filled.
-- The buy checks are made by rt_ledger_check_buys_v2 (above); this step loops its tiers for the lean
-- runs, then writes the sells and the checked candidates.
create or replace function udf.rt_ledger_propose_orders_v2(p_day date, p_day_no integer)
returns void
language plpgsql
set enable_nestloop = off
as $fn$
declare
    -- how many of the day's buy signals a lean run checks first (a few more than the positions its cash
    -- buys on most days), then four times as many for the runs these did not settle, ..., then all
    v_limit integer := 16;
    v_runs integer[];
begin
    delete from _rtl_orders;
    delete from _rtl_cand;

    loop
        perform udf.rt_ledger_check_buys_v2(p_day, p_day_no, v_runs, v_limit);
        exit when v_limit is null;
        -- the lean runs whose cash outlasted the signals checked, when the day has more (a closed gate
        -- blocks every buy)
        select array_agg(r.run_id) into v_runs
        from _rtl_runs as r
        where
            r.lean
            and r.gate
            and (v_runs is null or r.run_id = any(v_runs))
            and not exists (select 1 from _rtl_cand as c where c.run_id = r.run_id and not c.cash_ok)
            and exists (
                select 1 from _rtl_sig as s
                where
                    s.d = p_day and s.signal_set = r.signal_set and s.direction = 'buy' and s.buy_order > v_limit
            );
        exit when v_runs is null;
        delete from _rtl_cand where run_id = any(v_runs);
        v_limit := case when v_limit < 256 then v_limit * 4 end;
    end loop;

    with

    -- the held positions with their run's signal set first (a few hundred rows), then the day's sells
    held_sets as materialized (

        select p.run_id, p.symbol, p.qty, p.sector, r.signal_set
        from _rtl_pos as p
        inner join _rtl_runs as r on r.run_id = p.run_id

    ),

    sells as (

        select
            h.run_id, s.symbol, 'sell' as side, h.qty, null::bigint as size, s.close as price,
            'exit' as reason, null::integer as rank, s.strength, s.atr, h.sector
        from held_sets as h
        inner join _rtl_sig as s on s.d = p_day and s.signal_set = h.signal_set and s.symbol = h.symbol
        where s.direction = 'sell'

    ),

    proposed as (

        select run_id, symbol, side, qty, size, price, reason, rank, strength, atr, sector from sells
        union all
        select run_id, symbol, 'buy', qty, size, price, reason, rank, strength, atr, sector from _rtl_cand

    ),

    -- a lean run (a sweep's) keeps the orders it placed; the others keep every candidate with its reason
    written as (

        insert into _rtl_out (
            run_id, d, record_type, symbol, side, qty, size, price, reason, strategy, rank, strength, atr, sector
        )
        select
            o.run_id, p_day, 'order', o.symbol, o.side, o.qty, o.size, o.price, o.reason, 'COMBINED', o.rank,
            o.strength, o.atr, o.sector
        from proposed as o
        inner join _rtl_runs as r on r.run_id = o.run_id
        where o.qty > 0 or not r.lean
        returning run_id, symbol, side, qty, rank, atr, sector

    )

    insert into _rtl_orders (run_id, symbol, side, qty, rank, atr, sector, published)
    select run_id, symbol, side, qty, rank, atr, sector, true
    from written
    where qty > 0;
end;
$fn$;


-- Housekeeping every few days (the driver says how often), no rule: positions and run state are updated
-- several times a day, and inside the one transaction of a run nothing can vacuum their dead row versions,
-- so after a few years every probe of _rtl_pos walks thousands of them (the sample's ledger: 186 s
-- instead of 30 on PostgreSQL 15). Rewriting the few live rows keeps both tables as small as their
-- content; a truncate of a table created in the same transaction is done in place.
-- The steps empty their scratch tables (_rtl_sells, _rtl_buys, _rtl_hit, _rtl_cand) and the orders with a
-- delete, which costs microseconds where a truncate costs 0.3 ms or more (five a day were about 2 s of a
-- 5-year backtest); their dead rows go here too.
create or replace function udf.rt_ledger_compact_v2()
returns void
language plpgsql
as $fn$
begin
    truncate _rtl_sells, _rtl_buys, _rtl_hit, _rtl_cand, _rtl_pos_live, _rtl_runs_live, _rtl_orders_live;
    insert into _rtl_pos_live select * from _rtl_pos;
    insert into _rtl_runs_live select * from _rtl_runs;
    insert into _rtl_orders_live select * from _rtl_orders;
    truncate _rtl_pos, _rtl_runs, _rtl_orders;
    insert into _rtl_pos select * from _rtl_pos_live;
    insert into _rtl_runs select * from _rtl_runs_live;
    insert into _rtl_orders select * from _rtl_orders_live;
end;
$fn$;


-- Whether a relation (a table or view name as the driver's p_* arguments give it) has a column.
create or replace function udf.rt_has_column_v2(p_relation text, p_column text)
returns boolean
language sql
stable
as $fn$
    select exists (
        select 1 from pg_attribute
        where attrelid = to_regclass(p_relation) and attname = p_column and attnum > 0 and not attisdropped
    )
$fn$;


-- The driver: yesterday's state, the inputs of the window, then steps 1-4 for each ledger day.
create or replace function udf.rt_ledger_advance_v2(
    p_bars text,
    p_signals text,
    p_market text,
    p_symbols text,
    p_membership text,
    p_state text,
    p_start date,
    p_end date,
    p_runs jsonb,
    p_publish_last boolean
)
returns table (run_id integer, entry udf.rt_ledger_row_v2)
language plpgsql
-- thousands of small per-day queries: JIT compilation (on by default in Debian's PostgreSQL) would cost
-- more than each query itself (the sample's ledger: 186 s with it on PostgreSQL 15)
set jit = off
as $fn$
#variable_conflict use_column
declare
    v_last date;
    v_from date;
    v_to date;
    v_day date;
    v_day_no integer;
    v_last_day date;
    v_signal_set text;
    v_is_member text;
    v_pit_used boolean;
    v_current_used boolean;
    -- how often the state tables are compacted (rt_ledger_compact_v2): a compaction makes every step plan
    -- its statements afresh (about 1 ms each), a day without one leaves the day's dead row versions of the
    -- runs and positions for every later probe to walk. Measured on the sample: one run (6 years) 35 s
    -- compacting daily, 17 s every 25 days; 100 runs (1 year) 32 s daily, 45 s every 10 days. Never more
    -- often than every 3 days: a 100-run sweep of 5 years (two shards of 50 runs) took 147 s compacting
    -- every 3 days against 160 s daily (ledger pass 112 s against 124 s), every 5 days 150 s.
    v_compact_every integer;
    v_days integer := 0;
begin
    drop view if exists _rtl_bar_prices;
    -- _rtl_bars is a view of this call's window; an earlier ledger version called in the same transaction
    -- (the v1 ledger a test compares with) leaves a temp table of that name, which the next statement drops
    if exists (select 1 from pg_class where oid = to_regclass('pg_temp._rtl_bars') and relkind = 'v') then
        drop view _rtl_bars;
    end if;
    drop table if exists
        _rtl_runs, _rtl_out, _rtl_pos, _rtl_orders, _rtl_stops, _rtl_cal, _rtl_bars, _rtl_sym, _rtl_sig,
        _rtl_gate, _rtl_sells, _rtl_buys, _rtl_hit, _rtl_cand, _rtl_member, _rtl_pos_live, _rtl_runs_live,
        _rtl_orders_live;

    create temp table _rtl_runs on commit drop as
    select
        x.*,
        x.slippage_bps * 0.0001 as slippage,
        x.capital as cash,
        x.capital as cash_open,
        0::integer as seq,
        0::numeric as market_value,
        x.capital as equity,
        false as gate
    from jsonb_to_recordset(p_runs) as x (
        run_id integer, capital numeric, atr_stop_k numeric, enable_stop boolean, cooldown_days integer,
        pct_per_trade numeric, daily_risk_cap numeric, max_sector numeric, universe_mode text,
        slippage_bps numeric, commission_min numeric, commission_per_share numeric, commission_max_pct numeric,
        max_participation numeric, delist_sessions integer, signal_set integer, market_filter boolean,
        lean boolean
    );
    update _rtl_runs set signal_set = coalesce(signal_set, 0), lean = coalesce(lean, false);
    alter table _rtl_runs add primary key (run_id);
    v_compact_every := greatest(3, 25 / (select count(*) from _rtl_runs)::integer);

    create temp table _rtl_out (run_id integer, like udf.rt_ledger_row_v2) on commit drop;
    create index on _rtl_out (d, record_type);
    create temp table _rtl_pos (
        run_id integer, symbol text, qty bigint, entry_d date, entry_price numeric, stop_price numeric,
        last_close numeric, sector text, bars_missing integer, primary key (run_id, symbol)
    ) on commit drop;
    create temp table _rtl_pos_live (like _rtl_pos) on commit drop;
    create temp table _rtl_runs_live (like _rtl_runs) on commit drop;
    create temp table _rtl_orders (
        run_id integer, symbol text, side text, qty bigint, rank integer, atr numeric, sector text,
        published boolean
    ) on commit drop;
    create temp table _rtl_orders_live (like _rtl_orders) on commit drop;
    create temp table _rtl_stops (run_id integer, d date, symbol text) on commit drop;
    create index on _rtl_stops (d);
    create temp table _rtl_cal (d date primary key, day_no integer) on commit drop;
    -- scratch tables of the steps, emptied by each step: created once, because a temp table created and
    -- dropped per day would hold a lock per day until the end of the transaction
    create temp table _rtl_sells (
        run_id integer, seq integer, symbol text, ordered_qty bigint, held_qty bigint, open numeric,
        price numeric, published boolean, is_filled boolean
    ) on commit drop;
    create temp table _rtl_buys (
        run_id integer, k integer, cash numeric, symbol text, ordered_qty bigint, qty bigint, open numeric,
        price numeric, commission numeric, atr numeric, sector text, status text, reason text
    ) on commit drop;
    create temp table _rtl_hit (
        run_id integer, symbol text, qty bigint, ref_px numeric, price numeric, kind text, seq integer
    ) on commit drop;
    create temp table _rtl_cand (
        run_id integer, symbol text, qty bigint, size bigint, price numeric, reason text, rank integer,
        strength double precision, atr numeric, sector text, cash_ok boolean
    ) on commit drop;

    -- Yesterday's state (one run: the nightly ledger): the last processed day's cash, open positions,
    -- orders for the next open (published ones fill; the rest expire), and the stop history (cooldown).
    -- A null state (or an empty one) starts a fresh account from p_start.
    if p_state is not null then
        execute format('select max(d) from %s where record_type = %L', p_state, 'day') into v_last;
    end if;

    if v_last is null then
        v_from := coalesce(p_start, '-infinity'::date);
    else
        if (select count(*) from _rtl_runs) != 1 then
            raise exception 'a ledger state holds one run; got % runs', (select count(*) from _rtl_runs);
        end if;
        v_from := v_last + 1;
        execute format(
            'update _rtl_runs set cash = s.cash, cash_open = s.cash from %s as s'
            ' where s.record_type = %L and s.d = $1', p_state, 'day'
        ) using v_last;
        execute format(
            'insert into _rtl_pos select r.run_id, s.symbol, s.qty, s.entry_d, s.entry_price, s.stop_price,'
            ' s.close, s.sector, coalesce(s.bars_missing, 0) from %s as s cross join _rtl_runs as r'
            ' where s.record_type = %L and s.d = $1',
            p_state, 'position'
        ) using v_last;
        execute format(
            'insert into _rtl_orders select r.run_id, s.symbol, s.side, s.qty, s.rank, s.atr, s.sector,'
            ' coalesce(s.status = %L, false) from %s as s cross join _rtl_runs as r'
            ' where s.record_type = %L and s.d = $1 and s.qty > 0', 'published', p_state, 'order'
        ) using v_last;
        execute format(
            'insert into _rtl_stops select r.run_id, s.d, s.symbol from %s as s cross join _rtl_runs as r'
            ' where s.record_type = %L and s.event = %L', p_state, 'event', 'STOP_HIT'
        );
        execute format('insert into _rtl_cal select d, 0 from %s where record_type = %L', p_state, 'day');
    end if;
    v_to := coalesce(p_end, 'infinity'::date);
    analyze _rtl_runs;

    -- Inputs of the new days only: adjusted bars, COMBINED buy/sell signals with sector, the market gate.
    -- The bars are a view of the window, not a copy: a step reads a few dozen bars of one day through the
    -- bars' own index on (symbol, d), and copying and indexing the window's 632k bars cost about 0.7 s of
    -- a backtest. The steps read a day's bars in exact numeric, cast as they are read. Temp views outlive
    -- the transaction, so both are dropped before the call returns.
    execute format(
        'create temp view _rtl_bars as'
        ' select symbol, d, adj_open, adj_high, adj_low, adj_close, volume'
        ' from %s where d >= %L and d <= %L', p_bars, v_from, v_to
    );
    create temp view _rtl_bar_prices as
    select
        symbol, d, adj_open::numeric as open, adj_high::numeric as high, adj_low::numeric as low,
        adj_close::numeric as close, volume::numeric as volume
    from _rtl_bars;

    insert into _rtl_cal select distinct b.d, 0 from _rtl_bars as b;
    update _rtl_cal as c set day_no = n.day_no
    from (select c2.d, (row_number() over (order by c2.d))::integer as day_no from _rtl_cal as c2) as n
    where c.d = n.d;
    create unique index on _rtl_cal (day_no);
    analyze _rtl_cal;

    -- The symbol lookup goes through an indexed temp table: a freshly built signals table has no
    -- statistics yet, and a nested loop over a seq-scanned symbols table took 40 s on the sample.
    execute format(
        'create temp table _rtl_sym on commit drop as select distinct on (symbol) symbol, sector,'
        ' coalesce(is_tradable, false) and sector is not null as tradable from %s order by symbol',
        p_symbols
    );
    alter table _rtl_sym add primary key (symbol);
    analyze _rtl_sym;
    -- Index membership per universe mode: `pit` from the membership intervals, `current` the latest
    -- constituent list as a member on every day.
    execute format(
        'create temp table _rtl_member on commit drop as'
        ' select %L as universe_mode, symbol, added_d, removed_d from %s'
        ' union all select %L, symbol, %L::date, null::date from %s where is_current_member',
        'pit', p_membership, 'current', '-infinity', p_symbols
    );
    create index on _rtl_member (symbol, universe_mode);
    analyze _rtl_member;

    -- with, for a buy, whether its symbol is an index member that day in each universe mode: looked up
    -- once here, not per run and day, and only for the modes some run trades (the others are never read);
    -- and the rank order of the day's buys of each signal set (buy_order)
    v_signal_set := case when udf.rt_has_column_v2(p_signals, 'signal_set') then 's.signal_set' else '0' end;
    select
        coalesce(bool_or(r.universe_mode = 'pit'), false), coalesce(bool_or(r.universe_mode = 'current'), false)
    into v_pit_used, v_current_used
    from _rtl_runs as r;
    v_is_member := 's.direction = %L and exists (select 1 from _rtl_member as m where m.universe_mode = %L'
        ' and m.symbol = s.symbol and m.added_d <= s.d and (m.removed_d is null or s.d < m.removed_d))';
    execute format(
        'create temp table _rtl_sig on commit drop as'
        ' select %s as signal_set, s.d, s.symbol, s.direction, s.strength::double precision as strength,'
        ' s.close::numeric as close, s.atr_14::numeric as atr, y.sector, coalesce(y.tradable, false) as tradable,'
        ' %s as is_member_pit, %s as is_member_current,'
        ' (row_number() over (partition by %s, s.d, s.direction'
        ' order by s.strength::double precision desc nulls last, s.symbol))::integer as buy_order'
        ' from %s as s left join _rtl_sym as y on y.symbol = s.symbol'
        ' where s.strategy = %L and s.direction in (%L, %L) and s.d >= $1 and s.d <= $2',
        v_signal_set,
        case when v_pit_used then format(v_is_member, 'buy', 'pit') else 'false' end,
        case when v_current_used then format(v_is_member, 'buy', 'current') else 'false' end,
        v_signal_set, p_signals, 'COMBINED', 'buy', 'sell'
    ) using v_from, v_to;
    create index on _rtl_sig (d, signal_set);
    analyze _rtl_sig;


    execute format(
        'create temp table _rtl_gate on commit drop as'
        ' select d, bool_and(coalesce(bull_gate, false)) as bull_gate,'
        ' bool_and(coalesce(%s, false)) as close_above_sma from %s'
        ' where d >= $1 and d <= $2 group by d',
        case when udf.rt_has_column_v2(p_market, 'close_above_sma') then 'close_above_sma' else 'null::boolean' end,
        p_market
    ) using v_from, v_to;
    create index on _rtl_gate (d);
    analyze _rtl_gate;

    for v_day, v_day_no in
        select c.d, c.day_no from _rtl_cal as c where c.d >= v_from and c.d <= v_to order by c.d
    loop
        v_days := v_days + 1;
        if (v_days - 1) % v_compact_every = 0 then
            perform udf.rt_ledger_compact_v2();
        end if;
        update _rtl_runs set cash_open = cash, seq = 0;
        perform udf.rt_ledger_fill_orders_v2(v_day);
        perform udf.rt_ledger_stops_v2(v_day);
        perform udf.rt_ledger_mark_to_market_v2(v_day);
        perform udf.rt_ledger_propose_orders_v2(v_day, v_day_no);
        v_last_day := v_day;
    end loop;

    -- Orders this call proposed and filled itself were released to trade; the last day's orders wait for
    -- orders_eod to publish them (nightly) unless the caller publishes them too (a backtest has no gate).
    -- Said as the rows are returned: an update of every order row cost about 0.4 s of a backtest.
    return query
    select
        o.run_id,
        row(
            o.d, o.record_type, o.seq, o.symbol, o.side, o.qty, o.ordered_qty, o.price,
            case
                when o.record_type = 'order' and (o.d < v_last_day or p_publish_last) then 'published'
                else o.status
            end,
            o.reason,
            o.event, o.strategy, o.rank, o.size, o.strength, o.atr, o.sector, o.entry_d, o.entry_price,
            o.stop_price, o.close, o.market_value, o.cash_open, o.cash, o.equity, o.bull_gate, o.commission,
            o.slippage, o.bars_missing
        )::udf.rt_ledger_row_v2
    from _rtl_out as o;

    drop view _rtl_bar_prices, _rtl_bars;
end;
$fn$;

{% endmacro %}
