{#
    Staging of the index-membership inputs, shared by the sources that have them (the file source carries
    the bundled pitindex data or a user's own file; FMP adds the latest changes):
      membership_events    symbol, d, action ('added' / 'removed'), in the ticker of today
      membership_intervals symbol, added_d, removed_d (a user's sp500_membership*.csv)
      ticker_changes       old_symbol, new_symbol, d (the first day under new_symbol)
    The raw columns come from the contract (raw_columns(), generated from ingestion/contract.py); a source
    that never loaded one of these tables reads as empty.
#}
{% macro stage_membership_events(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'membership_events') }}

),

typed as (

    select
        upper(trim(symbol))::text as symbol,
        d::date as d,
        lower(trim(action))::text as action,
        '{{ source_name }}'::text as source,
        source_ref::text as source_ref,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}


{% macro stage_membership_intervals(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'membership_intervals') }}

),

typed as (

    select
        upper(trim(symbol))::text as symbol,
        added_d::date as added_d,
        removed_d::date as removed_d,
        '{{ source_name }}'::text as source,
        source_ref::text as source_ref,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}


{% macro stage_ticker_changes(source_name) -%}
with

raw as (

    {{ source_or_empty(source_name, 'ticker_changes') }}

),

typed as (

    select
        upper(trim(old_symbol))::text as old_symbol,
        upper(trim(new_symbol))::text as new_symbol,
        d::date as d,
        '{{ source_name }}'::text as source,
        source_ref::text as source_ref,
        loaded_at::timestamptz as loaded_at

    from raw

)

select * from typed
{%- endmacro %}
