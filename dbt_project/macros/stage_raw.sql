{#
    Staging is the same rename-and-type step for every source (they share one raw contract, declared in
    ingestion/contract.py and generated into raw_contract.sql), so the three sources' staging models call
    these instead of repeating the column list. Every contract column is cast to its contract type;
    `expressions` replaces the cast for the few columns that are also cleaned.
#}
{% macro stage_raw(source_name, table_name, expressions={}) -%}
with

raw as (

    {{ source_or_empty(source_name, table_name) }}

),

typed as (

    select
        {%- for name, type in raw_columns(table_name) %}
        {{ expressions.get(name, name ~ '::' ~ type) }} as {{ name }},
        {%- endfor %}
        '{{ source_name }}'::text as source

    from raw

)

select * from typed
{%- endmacro %}


{% macro stage_bars(source_name) -%}
    {{ stage_raw(source_name, 'bars', {
        'symbol': 'upper(trim(symbol))::text',
        'dup_seq': 'dup_seq::integer',
    }) }}
{%- endmacro %}


{% macro stage_actions(source_name) -%}
    {{ stage_raw(source_name, 'corporate_actions', {
        'symbol': 'upper(trim(symbol))::text',
        'action': 'lower(action)::text',
    }) }}
{%- endmacro %}


{% macro stage_constituents(source_name) -%}
    {{ stage_raw(source_name, 'constituents', {
        'symbol': 'upper(trim(symbol))::text',
        'name': "nullif(trim(name), '')::text",
        'sector': "nullif(trim(sector), '')::text",
        'sub_industry': "nullif(trim(sub_industry), '')::text",
    }) }}
{%- endmacro %}


{#- Rows the ingestion door refused (bad symbol, unreadable date, unknown action, ...), as text. -#}
{% macro stage_rejects(source_name) -%}
    {{ stage_raw(source_name, 'rejects') }}
{%- endmacro %}
