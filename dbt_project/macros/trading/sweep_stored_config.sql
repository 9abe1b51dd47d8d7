{#
    The config of every table a sweep stores: each sweep's rows replace only that sweep's (incremental on
    sweep_id, delete+insert), analyzed when written, with one index led by sweep_id whose columns `columns`
    name (unique when `unique`).
#}
{% macro sweep_stored_config(columns, unique=false) %}
{{
    config(
        materialized='incremental',
        unique_key=['sweep_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook='analyze {{ this }}',
        indexes=[{'columns': columns, 'unique': unique}],
    )
}}
{% endmacro %}
