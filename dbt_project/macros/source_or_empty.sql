{#
    Select a raw table's contract columns (raw_columns(), generated from ingestion/contract.py), or an
    empty typed row set when that raw table has not been loaded yet (a user who runs only the sample source
    has no raw_fmp.bars). A contract column the stored table does not have yet (a table loaded before the
    column existed) reads as null. The `source()` call is always made so dbt records the lineage.
#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set src = source(source_name, table_name) -%}
    {%- set columns = raw_columns(table_name) -%}
    {%- set relation = load_relation(src) if execute else none -%}
    {%- if execute and relation is none -%}
        select
        {%- for name, type in columns %}
            cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    {%- else -%}
        {%- set present = [] -%}
        {%- if execute -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do present.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
        select
        {%- for name, type in columns %}
            {% if not execute or name in present %}{{ name }}{% else %}cast(null as {{ type }}) as {{ name }}{% endif %}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ src }}
    {%- endif -%}
{%- endmacro %}
