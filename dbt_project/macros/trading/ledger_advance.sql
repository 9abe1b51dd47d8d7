{#
    The call of udf.rt_ledger_advance_v2 shared by ledger (nightly) and backtest_ledger: same inputs, same
    settings (one run), only the state and the window differ. `state` is a relation (the model's own table
    when incremental) or none for a fresh account; `start_d`/`end_d` are 'YYYY-MM-DD' or ''; `publish_last`
    releases the last day's orders too (a backtest; the nightly ledger waits for orders_eod).
#}
{% macro ledger_advance(state, start_d, end_d, publish_last) %}
    select (advanced.entry).*
    from udf.rt_ledger_advance_v2(
        p_bars => {{ rt_literal(ref('bars_daily')) }},
        p_signals => {{ rt_literal(ref('int_ledger_signals')) }},
        p_market => {{ rt_literal(ref('market_state')) }},
        p_symbols => {{ rt_literal(ref('symbols')) }},
        p_membership => {{ rt_literal(ref('universe_membership')) }},
        p_state => {{ rt_literal(state) if state is not none else 'null' }},
        p_start => {{ rt_date_literal(start_d) }},
        p_end => {{ rt_date_literal(end_d) }},
        p_runs => {{ ledger_runs_json() }},
        p_publish_last => {{ 'true' if publish_last else 'false' }}
    ) as advanced
{% endmacro %}


{#-
    The settings of the one run the nightly ledger and a backtest make, as the JSON array the ledger
    function reads: the var rt_ledger_run, built by rapidtrader/ledger_runs.py from the same settings.
-#}
{% macro ledger_runs_json() -%}
    {{ rt_literal('[' ~ var('rt_ledger_run') ~ ']') }}::jsonb
{%- endmacro %}
