{#
    The rule settings a stored table was built with, so that a changed setting never leaves history decided
    by the old rule next to new days decided by the new one.
    signals_decided and market_state are incremental: a night computes only the days that are new. Their
    decisions also depend on settings (dbt vars); when one changes, every stored row is stale. So each of
    the two records the settings it was built with in its table comment (a last line
    `rule settings: {json}` after the description persist_docs writes; no column, nothing per row), and on an
    incremental build compares them with the current ones: when they differ, or none are recorded, the
    pre-hook empties the table and the model's incremental logic, which computes every row newer than the
    newest stored computed_at, computes its whole history (as a full refresh would, in the same
    transaction: a failed build keeps the old rows and the old record). Emptying is a TRUNCATE (no dead
    rows left to vacuum; readers wait for that build's commit: 6-7 s for signals_decided on the sample), and
    the post-hook ANALYZEs the rewritten table. rapidtrader/rule_settings.py reads the same record (the
    backtest refuses stale inputs).
      rt_signal_rule_settings()   settings of signals_decided (the values its rules use)
      rt_market_rule_settings()   settings of market_state
      rt_recompute_if_rules_changed(relation, settings)   pre-hook: empty the table when they changed
      rt_record_rule_settings(relation, settings)         post-hook: record them (and ANALYZE after a recompute)
#}

{#- The settings signals_decided's rules read, typed as the model uses them. -#}
{% macro rt_signal_rule_settings() -%}
    {{ return({
        'rt_rsi_buy': var('rt_rsi_buy') | float,
        'rt_rsi_sell': var('rt_rsi_sell') | float,
        'rt_enable_signal_confirm': var('rt_enable_signal_confirm') | int,
        'rt_confirm_window': var('rt_confirm_window') | int,
        'rt_confirm_min_count': var('rt_confirm_min_count') | int,
        'rt_sma_fast': var('rt_sma_fast') | int,
        'rt_sma_slow': var('rt_sma_slow') | int,
        'rt_sma_confirm_days': var('rt_sma_confirm_days') | int,
        'rt_float_tolerance': var('rt_float_tolerance') | float,
    }) }}
{%- endmacro %}


{#- The settings market_state's gate reads, typed as the model uses them. -#}
{% macro rt_market_rule_settings() -%}
    {{ return({
        'rt_market_filter_symbol': var('rt_market_filter_symbol') | string,
        'rt_market_filter_sma': var('rt_market_filter_sma') | int,
        'rt_market_filter_enable': var('rt_market_filter_enable') | int,
        'rt_float_tolerance': var('rt_float_tolerance') | float,
    }) }}
{%- endmacro %}


{#- The settings recorded in `relation`'s comment (a dict), or none. -#}
{% macro rt_stored_rule_settings(relation) -%}
    {%- set result = run_query("select obj_description(" ~ rt_literal(relation) ~ "::regclass, 'pg_class')") -%}
    {%- set comment = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
    {%- set found = modules.re.search('rule settings: (\\{.*\\})\\s*$', comment or '') -%}
    {{ return(fromjson(found.group(1)) if found else none) }}
{%- endmacro %}


{% macro rt_recompute_if_rules_changed(relation, settings) -%}
    {%- if execute and is_incremental() -%}
        {%- set stored = rt_stored_rule_settings(relation) -%}
        {%- if stored != settings -%}
            {%- set changes = [] -%}
            {%- for name, value in settings.items() if stored is none or stored.get(name) != value -%}
                {%- do changes.append(name ~ ' ' ~ (stored.get(name, 'none') if stored is not none else 'none') ~ ' -> ' ~ value) -%}
            {%- endfor -%}
            {{ log(relation.identifier ~ ": rule settings changed (" ~ (changes | join(', ') if changes else 'recorded: ' ~ tojson(stored)) ~ "): recomputing every stored row", info=True) }}
truncate table {{ relation }};
select set_config('rapidtrader.rules_recomputed', {{ rt_literal(relation) }}, true)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{% macro rt_record_rule_settings(relation, settings) -%}
do $rt$
begin
    {{ rt_comment_record_statement(
        relation, 'rule settings: \\{.*\\}', "'rule settings: ' || " ~ rt_literal(tojson(settings, sort_keys=true))
    ) }}
    if current_setting('rapidtrader.rules_recomputed', true) = {{ rt_literal(relation) }} then
        analyze {{ relation }};
    end if;
end
$rt$
{%- endmacro %}
