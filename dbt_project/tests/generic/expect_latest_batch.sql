{#
    Tests for large incremental tables that check only the rows written by the latest run (the newest
    value of `batch_column`, computed_at), so the nightly cost does not grow with history; a full refresh
    writes every row in one batch, so it checks them all. The newest value is looked up first and inlined
    as a literal: with `= (select max(...))` Postgres cannot see that the batch is small and scans the
    whole table (measured 1-2 s per test at 20 years). The literal comes from rt_latest_batch_literal
    (macros/rt_indicator_functions.sql). `batch_from` (optional) names the stored table whose newest
    `batch_column` is the batch, for a view whose `batch_column` is that table's (signals_daily reads
    signals_decided.computed_at): the lookup then reads the table's index instead of computing the whole
    view (3 to 4 s per test at 10 years).
#}


{# Fails with one row per duplicated key among the latest batch's rows (a unique index guards the rest). #}
{% test expect_unique_combination_in_latest_batch(model, columns, batch_column='computed_at', batch_from=none) %}

{%- if columns is string or columns | length == 0 -%}
    {{ exceptions.raise_compiler_error("expect_unique_combination_in_latest_batch: `columns` must be a non-empty list") }}
{%- endif %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows

from {{ model }}
where {{ rt_latest_batch_filter(batch_from or model, batch_column) }}

group by {{ columns | join(', ') }}

having count(*) > 1

{% endtest %}


{#
    Fails with the latest batch's rows for which one of `expressions` (SQL booleans that must hold on every
    row, e.g. "rsi_14 is null or rsi_14 between 0 and 100") is not true; failed_check names it. One scan
    for all the checks of a table.
#}
{% test expect_latest_batch_rows_valid(model, expressions, batch_column='computed_at', batch_from=none) %}

{%- if expressions is string or expressions | length == 0 -%}
    {{ exceptions.raise_compiler_error("expect_latest_batch_rows_valid: `expressions` must be a non-empty list") }}
{%- endif %}

with

latest_batch as (

    select * from {{ model }}
    where {{ rt_latest_batch_filter(batch_from or model, batch_column) }}

),

checked as (

    select
        *,
        case
            {%- for expression in expressions %}
            when not coalesce({{ expression }}, false) then {{ "'" ~ (expression | replace("'", "''")) ~ "'" }}
            {%- endfor %}
        end as failed_check

    from latest_batch

)

select * from checked
where failed_check is not null

{% endtest %}
