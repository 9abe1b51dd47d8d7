{#
    Use the folder's schema name as is (marts, staging, intermediate, dq) instead of dbt's default
    "<target schema>_<custom>", so the runbook's queries find `bars_daily` in `marts` on every target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
