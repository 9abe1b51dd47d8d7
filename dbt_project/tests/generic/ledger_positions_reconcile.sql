{#
    Beginning + changes = end, for positions, on a ledger table: for every day and symbol,
    yesterday's quantity + bought - sold - stopped = today's quantity (0 when not held). Fails with the
    (day, symbol) pairs that do not add up. The first day starts flat.
    With `batch_column`, only the days of the latest batch are checked, from the positions of the day
    before it (as ledger_cash_reconciles).
#}
{% test ledger_positions_reconcile(model, batch_column=none) %}
{%- set batch = rt_ledger_batch_days(model, batch_column) %}

with

ledger as (

    select * from {{ model }}
    {%- if batch %}
    where d >= '{{ batch.from_d }}'::date
    {%- endif %}

),

days as (

    select
        d,
        lag(d) over by_d as previous_d

    from ledger
    where record_type = 'day'

    window by_d as (order by d)

),

positions as (

    select
        d,
        symbol,
        qty

    from ledger
    where record_type = 'position'

),

moves as (

    select
        d,
        symbol,
        sum(case when side = 'buy' then qty else -qty end) as net_qty

    from ledger
    where record_type = 'fill' and status in ('filled', 'delisted')
    group by d, symbol

),

keys as (

    select
        days.d,
        positions.symbol

    from days
    inner join positions
        on days.previous_d = positions.d

    union

    select
        d,
        symbol

    from positions

    union

    select
        d,
        symbol

    from moves

),

checked as (

    select
        keys.d,
        keys.symbol,
        coalesce(before.qty, 0) as qty_before,
        coalesce(moves.net_qty, 0) as net_qty,
        coalesce(after.qty, 0) as qty_after

    from keys
    inner join days
        on keys.d = days.d
    left join positions as before
        on days.previous_d = before.d and keys.symbol = before.symbol
    left join moves
        on keys.d = moves.d and keys.symbol = moves.symbol
    left join positions as after
        on keys.d = after.d and keys.symbol = after.symbol

)

select * from checked
where
    qty_before + net_qty <> qty_after
    {%- if batch %}
    and d >= '{{ batch.first_d }}'::date
    {%- endif %}

{% endtest %}
