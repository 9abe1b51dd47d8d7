{# Fails with the rows whose value is not one of `values` (nulls pass). #}
{% test expect_column_values_in_set(model, column_name, values) %}

{%- if values is string or values | length == 0 -%}
    {{ exceptions.raise_compiler_error("expect_column_values_in_set: `values` must be a non-empty list") }}
{%- endif %}

select *

from {{ model }}

where
    {{ column_name }} is not null
    and {{ column_name }}::text not in (
        {%- for v in values %}'{{ v }}'{{ "," if not loop.last }}{% endfor -%}
    )

{% endtest %}
