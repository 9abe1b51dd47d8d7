{#
    A ledger built before the ledger had computed_at (the build that appended each row, which its tests
    scope to) gains the column, empty for the rows already there, and its index before the nightly appends
    to it: on_schema_change='fail' would otherwise stop the build. A new or current table is left alone.
#}
{% macro ledger_add_computed_at(relation) %}
    do $$
    begin
        if to_regclass('{{ relation }}') is not null and not exists (
            select 1 from pg_attribute
            where attrelid = to_regclass('{{ relation }}') and attname = 'computed_at' and not attisdropped
        ) then
            alter table {{ relation }} add column computed_at timestamptz;
            create index on {{ relation }} (computed_at);
        end if;
    end
    $$
{% endmacro %}
