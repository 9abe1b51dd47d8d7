{#-
    GENERATED from ingestion/contract.py by `python -m ingestion.contract > dbt_project/macros/raw_contract.sql`.
    Do not edit: change the contract and regenerate (tests/ingestion/test_contract.py fails when they differ).
    raw_columns(table_name): the raw table's columns as [name, SQL type] pairs, in contract order.
-#}

{% macro raw_columns(table_name) -%}
    {%- set contract = {
        "bars": [
            ["symbol", "text"],
            ["d", "date"],
            ["open", "double precision"],
            ["high", "double precision"],
            ["low", "double precision"],
            ["close", "double precision"],
            ["adj_close", "double precision"],
            ["volume", "double precision"],
            ["dup_seq", "bigint"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"],
            ["unreadable", "text"]
        ],
        "corporate_actions": [
            ["symbol", "text"],
            ["d", "date"],
            ["action", "text"],
            ["value", "double precision"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ],
        "constituents": [
            ["symbol", "text"],
            ["name", "text"],
            ["sector", "text"],
            ["sub_industry", "text"],
            ["date_added", "date"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ],
        "rejects": [
            ["reject_id", "text"],
            ["kind", "text"],
            ["symbol_text", "text"],
            ["date_text", "text"],
            ["d", "date"],
            ["reason", "text"],
            ["detail", "text"],
            ["row_number", "bigint"],
            ["row_text", "text"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ],
        "membership_events": [
            ["symbol", "text"],
            ["d", "date"],
            ["action", "text"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ],
        "membership_intervals": [
            ["symbol", "text"],
            ["added_d", "date"],
            ["removed_d", "date"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ],
        "ticker_changes": [
            ["old_symbol", "text"],
            ["new_symbol", "text"],
            ["d", "date"],
            ["source_ref", "text"],
            ["loaded_at", "timestamp with time zone"]
        ]
    } -%}
    {%- if table_name not in contract -%}
        {{ exceptions.raise_compiler_error("raw_columns: no raw table named " ~ table_name) }}
    {%- endif -%}
    {{ return(contract[table_name]) }}
{%- endmacro %}
