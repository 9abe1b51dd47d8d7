{#
    Select from a raw table, or from an empty typed row set when that raw table has not been loaded yet
    (a user who runs only the sample source has no raw_fmp.bars). The `source()` call is always made so
    dbt records the lineage.
#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set src = source(source_name, table_name) -%}
    {%- if execute and load_relation(src) is none -%}
        select
        {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    {%- else -%}
        select * from {{ src }}
    {%- endif -%}
{%- endmacro %}


{#- The raw column contract shared by every source (see ingestion/common.py). -#}
{% macro raw_bar_columns() -%}
    {{ return({
        "symbol": "text", "d": "date", "open": "double precision", "high": "double precision",
        "low": "double precision", "close": "double precision", "adj_close": "double precision",
        "volume": "double precision", "dup_seq": "bigint", "source_ref": "text",
        "loaded_at": "timestamp with time zone"
    }) }}
{%- endmacro %}

{% macro raw_action_columns() -%}
    {{ return({
        "symbol": "text", "d": "date", "action": "text", "value": "double precision",
        "source_ref": "text", "loaded_at": "timestamp with time zone"
    }) }}
{%- endmacro %}

{% macro raw_constituent_columns() -%}
    {{ return({
        "symbol": "text", "name": "text", "sector": "text", "sub_industry": "text",
        "date_added": "date", "source_ref": "text", "loaded_at": "timestamp with time zone"
    }) }}
{%- endmacro %}
