{# Fails (one row) when the model has fewer than `min_rows` rows: an empty mart is a broken build.
   It reads at most `min_rows` rows (the limit), not the whole model: counting every row of bars_daily,
   a view of millions of bars, cost 0.5 s a night at 20 years to learn that it is not empty. #}
{% test expect_row_count_at_least(model, min_rows=1) %}

select count(*) as n_rows

from (select 1 as present from {{ model }} limit {{ min_rows | int }}) as first_rows

having count(*) < {{ min_rows | int }}

{% endtest %}
