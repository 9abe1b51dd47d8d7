{#
    The days a batch-scoped ledger test reads (ledger_cash_reconciles, ledger_positions_reconcile): the
    latest batch's first day (`first_d`, the newest value of `batch_column`) and the ledger day before it
    (`from_d`, whose closing cash and positions the batch starts from; the first day itself when nothing
    precedes it). None means every day: no batch column (a backtest's ledger, written whole),
    RT_TEST_FULL_HISTORY=1, or no row carrying a batch (a ledger migrated before it had one). Looked up
    first and inlined as literals, like rt_latest_batch_literal, so the test reads the batch's days through
    the (record_type, d) index instead of the whole ledger.
#}
{% macro rt_ledger_batch_days(model, batch_column) -%}
    {%- if batch_column is none or var('rt_test_full_history') | int == 1 or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        with batch as (
            select min(d) as first_d from {{ model }}
            where {{ batch_column }} = {{ rt_latest_batch_literal(model, batch_column) }}
        )
        select
            batch.first_d::text,
            coalesce(
                (
                    select max(before.d) from {{ model }} as before
                    where before.record_type = 'day' and before.d < batch.first_d
                ),
                batch.first_d
            )::text
        from batch
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'first_d': row[0], 'from_d': row[1]}) }}
{%- endmacro %}
