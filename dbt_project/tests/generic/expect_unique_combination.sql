{#
    Fails with one row per duplicated key: the columns together must identify a row (a primary key).
    In the spirit of dbt_utils.unique_combination_of_columns.
#}
{% test expect_unique_combination(model, columns) %}

{%- if columns is string or columns | length == 0 -%}
    {{ exceptions.raise_compiler_error("expect_unique_combination: `columns` must be a non-empty list") }}
{%- endif %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows

from {{ model }}

group by {{ columns | join(', ') }}

having count(*) > 1

{% endtest %}
