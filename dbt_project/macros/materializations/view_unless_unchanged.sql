{#
    The project's view materialization on PostgreSQL: dbt's own (materialization_view_default), except that
    a view whose definition has not changed since the build that created it is left as it is. dbt
    re-creates every view on every run (create a temporary view, two renames, a drop, comments), about
    0.3 to 0.7 s of catalog work per view; the nightly build has 31 views, so this was 10 to 15 s of node
    time a night spent re-creating the same views.

    "Unchanged" means: the relation is a view, no --full-refresh, the model has no hooks (a view with
    hooks is always made again: they may mean to run on every build), and its fingerprint is the one this
    build computes. The fingerprint (rt_view_fingerprint) is an md5 of everything the view materialization
    writes: the compiled SQL, the model's and its columns' descriptions (persisted as comments), grants
    and hooks, and the code checksum of every model and source it reads (a changed parent can change what
    its `select *` expands to). It is kept as the last line of the view's comment
    ("rt_view_fingerprint: ..."). A view that is gone (dropped with a table it reads, by `drop ...
    cascade`) or that was created without a fingerprint is created again, as always.
#}
{% materialization view, adapter='postgres' %}

    {%- set fingerprint = rt_view_fingerprint() -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- if existing is not none and existing.is_view and not should_full_refresh()
        and not (model.config.pre_hook or model.config.post_hook)
        and rt_stored_view_fingerprint(existing) == fingerprint -%}
        {%- do store_result('main', response='view unchanged') -%}
        {{ return({'relations': [this.incorporate(type='view')]}) }}
    {%- endif -%}

    {%- set result = dbt.materialization_view_default() -%}
    {% call statement('rt_view_fingerprint') -%}
        {{ rt_set_view_fingerprint(this.incorporate(type='view'), fingerprint) }}
    {%- endcall %}
    {{ adapter.commit() }}
    {{ return(result) }}

{% endmaterialization %}


{% macro rt_view_fingerprint() -%}
    {%- set columns = [] -%}
    {%- for name, column in model.columns.items() | sort -%}
        {%- do columns.append(name ~ ':' ~ (column.description or '')) -%}
    {%- endfor -%}
    {#- a parent whose code changed may change what `select *` expands to: the view is made again -#}
    {%- set parents = [] -%}
    {%- for parent_id in model.depends_on.nodes | sort -%}
        {%- set parent = graph.nodes.get(parent_id) or graph.sources.get(parent_id) -%}
        {%- do parents.append(parent_id ~ ':' ~ (parent.checksum.checksum if parent and parent.checksum else '')) -%}
    {%- endfor -%}
    {{- return(local_md5(tojson([
        sql,
        parents,
        model.description or '',
        columns,
        config.get('grants') or {},
        (model.config.pre_hook or []) | map(attribute='sql') | list,
        (model.config.post_hook or []) | map(attribute='sql') | list,
    ]))) -}}
{%- endmacro %}


{% macro rt_stored_view_fingerprint(relation) -%}
    {%- set found = run_query(
        "select substring(obj_description(to_regclass('" ~ relation ~ "'), 'pg_class') "
        ~ "from 'rt_view_fingerprint: ([0-9a-f]{32})$')"
    ) -%}
    {{- return(found.columns[0].values()[0] if found and found.rows | length > 0 else none) -}}
{%- endmacro %}


{# Appends the fingerprint to the comment persist_docs wrote (the model's description), as its last line. #}
{% macro rt_set_view_fingerprint(relation, fingerprint) -%}
    do $rt$
    begin
        execute format(
            'comment on view %s is %L',
            '{{ relation }}',
            concat_ws(e'\n', obj_description(to_regclass('{{ relation }}'), 'pg_class'),
                'rt_view_fingerprint: {{ fingerprint }}')
        );
    end
    $rt$
{%- endmacro %}
