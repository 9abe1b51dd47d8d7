{#
    Beginning + changes = end, for cash, on a ledger table (ledger, backtest_ledger). Fails with
    the days where cash_open differs from the previous day's cash (or from start_capital on the first
    day), or where cash differs from cash_open + sell, stop and delisting proceeds - buy costs of that
    day's fills, commissions included. Exact: money is numeric in the ledger.
    With `batch_column` (the nightly ledger's computed_at), only the days of the latest batch are checked,
    from the closing cash of the day before it (rt_ledger_batch_days): the ledger only ever appends days,
    so a day an earlier build appended was checked by that build.
#}
{% test ledger_cash_reconciles(model, start_capital, batch_column=none) %}
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
        cash_open,
        cash,
        lag(cash) over by_d as previous_cash,
        row_number() over by_d as day_no

    from ledger
    where record_type = 'day'

    window by_d as (order by d)

),

flows as (

    select
        d,
        sum(
            case when side = 'buy' then -qty * price else qty * price end - coalesce(commission, 0)
        ) as net_flow

    from ledger
    where record_type = 'fill' and status in ('filled', 'delisted')
    group by d

),

checked as (

    select
        days.*,
        coalesce(flows.net_flow, 0) as net_flow

    from days
    left join flows
        on days.d = flows.d

)

select * from checked
where
    {%- if batch %}
    d >= '{{ batch.first_d }}'::date and (
    {%- endif %}
    cash_open + net_flow <> cash
    or (day_no > 1 and cash_open <> previous_cash)
    or (day_no = 1 and cash_open <> {{ start_capital }})
    {%- if batch %}
    )
    {%- endif %}

{% endtest %}
