-- Every order row the ledger proposed (accepted and blocked), with the facts the risk tests need
-- recomputed here from independent inputs: index membership from universe_membership (or the latest
-- list with RT_UNIVERSE_MODE=current), the gate from market_state, close and ATR from signals_daily,
-- cooldown from the ledger's STOP_HIT events, sector value from the positions.
-- Incremental: the ledger only appends days, so each build adds the ledger days after the last one here;
-- computed_at marks the build, and the risk tests check that batch (every row with
-- RT_TEST_FULL_HISTORY=1). A --full-refresh of the ledger needs one of this model too (`dbt build
-- --full-refresh` does both). An incremental build reads only the new days and the stored days the
-- cooldown looks back on, so a night's cost does not grow with the history.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['d', 'symbol'], 'unique': true}, {'columns': ['computed_at']}],
    )
}}
{%- set after_d = "(select coalesce(max(stored.d), '-infinity'::date) from " ~ this ~ " as stored)"
    if is_incremental() else "'-infinity'::date" %}
{%- set cooldown_days = var('rt_cooldown_days_on_stop') | int %}

with

-- not materialized: each use below filters through the ledger's (record_type, d) index (a materialized
-- copy is O(history))
ledger as not materialized (

    select * from {{ ref('ledger') }}

),

market as (

    select * from {{ ref('market_state') }}

),

-- the ledger days read below are the ones after this day: the new days and the cooldown_days stored days
-- before them, which a new order's cooldown can reach (every day on a full refresh)
days_after as (

    select
        coalesce(
            (
                select stored_days.d
                from ledger as stored_days
                where stored_days.record_type = 'day' and stored_days.d <= {{ after_d }}
                order by stored_days.d desc
                limit 1 offset {{ cooldown_days }}
            ),
            '-infinity'::date
        ) as d

),

orders as (

    select * from ledger
    where record_type = 'order' and d > {{ after_d }}

),

{% if var('rt_universe_mode') == 'current' %}

members as (

    select
        symbol,
        '-infinity'::date as added_d,
        null::date as removed_d

    from {{ ref('symbols') }}
    where is_current_member

),

{% else %}

members as (

    select
        symbol,
        added_d,
        removed_d

    from {{ ref('universe_membership') }}

),

{% endif %}

-- The orders whose symbol was an index member on the order's day, found by one join on the symbol: a
-- correlated exists() here probed every membership row once per order (10 s on the sample).
member_orders as (

    select distinct
        orders.d,
        orders.symbol

    from orders
    inner join members
        on
            orders.symbol = members.symbol
            and orders.d >= members.added_d
            and (members.removed_d is null or orders.d < members.removed_d)

),

days as (

    select
        d,
        cash,
        equity,
        row_number() over by_d as day_no

    from ledger
    where record_type = 'day' and d > (select days_after.d from days_after)

    window by_d as (order by d)

),

positions as (

    select * from ledger
    where record_type = 'position' and d > {{ after_d }}

),

sector_held as (

    select
        d,
        sector,
        sum(market_value) as held_value

    from positions
    group by d, sector

),

stops as (

    select
        ledger.symbol,
        days.day_no

    from ledger
    inner join days
        on ledger.d = days.d
    where
        ledger.record_type = 'event'
        and ledger.event = 'STOP_HIT'
        -- the same days as `days` (the join keeps only those), read through the index instead of every stop
        and ledger.d > (select days_after.d from days_after)

),

cooldown as (

    select distinct
        stops.symbol,
        days.d

    from stops
    inner join days
        on days.day_no between stops.day_no and stops.day_no + {{ cooldown_days }}

),

final as (

    select
        orders.d,
        orders.symbol,
        orders.side,
        orders.qty,
        'market' as order_type,
        orders.price as ref_price,
        orders.reason,
        orders.strategy,
        orders.rank,
        orders.size,
        orders.strength,
        orders.atr as atr_14,
        orders.sector,
        orders.side = 'buy' and orders.qty > 0 as is_accepted_buy,
        coalesce(orders.status = 'published', false) as is_released,
        days.cash,
        days.equity,
        coalesce(sector_held.held_value, 0) as sector_held_value,
        {{ var('rt_max_exposure_per_sector') | float }}::numeric * days.equity as sector_cap_value,
        coalesce(market.bull_gate, false) as gate_open,
        cooldown.symbol is not null as in_cooldown,
        member_orders.symbol is not null as is_member,
        signals.close::numeric as signal_close,
        signals.atr_14::numeric as signal_atr_14,
        case
            when signals.close > 0 and signals.atr_14 > 0
                then least(
                    floor(days.equity * {{ var('rt_pct_per_trade') | float }}::numeric / signals.close::numeric),
                    floor(
                        days.equity * {{ var('rt_daily_risk_cap') | float }}::numeric
                        / ({{ var('rt_atr_stop_k') | float }}::numeric * signals.atr_14::numeric)
                    )
                )::bigint
        end as expected_size,
        held.qty as held_qty,
        '{{ run_started_at }}'::timestamptz as computed_at

    from orders
    inner join days
        on orders.d = days.d
    left join sector_held
        on orders.d = sector_held.d and orders.sector = sector_held.sector
    left join market
        on orders.d = market.d
    -- each order's signal row, probed through the (symbol, d) indexes of signals_daily's two tables (offset 0
    -- keeps the probe from becoming a join: through the view, the planner hashed every signal of the history,
    -- which made a night's build grow with the years)
    left join lateral (
        select
            signals.close,
            signals.atr_14

        from {{ ref('signals_daily') }} as signals
        where
            signals.strategy = 'COMBINED'
            and signals.d = orders.d
            and signals.symbol = orders.symbol
        offset 0  -- noqa: AM09
    ) as signals on true
    left join positions as held
        on orders.d = held.d and orders.symbol = held.symbol
    left join cooldown
        on orders.d = cooldown.d and orders.symbol = cooldown.symbol
    left join member_orders
        on orders.d = member_orders.d and orders.symbol = member_orders.symbol

)

select * from final
