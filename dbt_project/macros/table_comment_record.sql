{#
    A stored table that records how it was built keeps that record as the last line of its table comment,
    after the description persist_docs writes (rule settings: macros/analytics/rule_settings.sql; coverage
    inputs: macros/market_data/coverage_changes.sql). rt_comment_record_statement is the plpgsql statement
    (inside a DO block of a post-hook) that replaces the last line matching `line_pattern` (a regular
    expression, anchored at the end) with the value of the SQL text expression `line_sql`.
#}
{% macro rt_comment_record_statement(relation, line_pattern, line_sql) -%}
    execute format(
        'comment on table %s is %L',
        {{ rt_literal(relation) }},
        concat_ws(
            E'\n\n',
            nullif(regexp_replace(
                coalesce(obj_description({{ rt_literal(relation) }}::regclass, 'pg_class'), ''),
                {{ rt_literal('\\s*' ~ line_pattern ~ '\\s*$') }}, ''
            ), ''),
            {{ line_sql }}
        )
    );
{%- endmacro %}
