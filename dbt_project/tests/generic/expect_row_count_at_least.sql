{# Fails (one row) when the model has fewer than `min_rows` rows: an empty mart is a broken build. #}
{% test expect_row_count_at_least(model, min_rows=1) %}

select count(*) as n_rows

from {{ model }}

having count(*) < {{ min_rows }}

{% endtest %}
