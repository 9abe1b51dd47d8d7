{#
    Fails with the rows whose value lies outside [min_value, max_value] (either bound optional; nulls
    pass, test them with not_null). `strictly: true` makes the bounds exclusive.
#}
{% test expect_column_values_between(model, column_name, min_value=none, max_value=none, strictly=false) %}

{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("expect_column_values_between: give min_value, max_value or both") }}
{%- endif %}
{%- set lo = ">" if strictly else ">=" -%}
{%- set hi = "<" if strictly else "<=" -%}

select *

from {{ model }}

where
    {{ column_name }} is not null
    and not (
        true
        {%- if min_value is not none %} and {{ column_name }} {{ lo }} {{ min_value }}{% endif %}
        {%- if max_value is not none %} and {{ column_name }} {{ hi }} {{ max_value }}{% endif %}
    )

{% endtest %}
