{#
    Staging is the same rename-and-type step for every vendor (they share one raw contract), so the
    three sources' staging models call these instead of repeating the column list.
#}
{% macro stage_bars(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'bars', raw_bar_columns()) }}

),

typed as (

    select
        upper(trim(symbol))::text as symbol,
        d::date as d,
        open::double precision as open,
        high::double precision as high,
        low::double precision as low,
        close::double precision as close,
        adj_close::double precision as adj_close,
        volume::double precision as volume,
        dup_seq::integer as dup_seq,
        '{{ source_name }}'::text as source,
        source_ref::text as source_ref,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}


{% macro stage_actions(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'corporate_actions', raw_action_columns()) }}

),

typed as (

    select
        upper(trim(symbol))::text as symbol,
        d::date as d,
        lower(action)::text as action,
        value::double precision as value,
        '{{ source_name }}'::text as source,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}


{% macro stage_constituents(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'constituents', raw_constituent_columns()) }}

),

typed as (

    select
        upper(trim(symbol))::text as symbol,
        nullif(trim(name), '')::text as name,
        nullif(trim(sector), '')::text as sector,
        nullif(trim(sub_industry), '')::text as sub_industry,
        date_added::date as date_added,
        '{{ source_name }}'::text as source,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}
