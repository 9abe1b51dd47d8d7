{#
    The call of udf.rt_ledger_advance_v1 shared by ledger (nightly) and backtest_ledger: same inputs, same
    settings (one run), only the state and the window differ. `state` is a relation (the model's own table
    when incremental) or none for a fresh account; `start_d`/`end_d` are 'YYYY-MM-DD' or ''; `publish_last`
    releases the last day's orders too (a backtest; the nightly ledger waits for orders_eod).
#}
{% macro ledger_advance(state, start_d, end_d, publish_last) %}
    select (advanced.entry).*
    from udf.rt_ledger_advance_v1(
        p_bars => {{ rt_literal(ref('bars_daily')) }},
        p_signals => {{ rt_literal(ref('signals_daily')) }},
        p_market => {{ rt_literal(ref('market_state')) }},
        p_symbols => {{ rt_literal(ref('symbols')) }},
        p_state => {{ rt_literal(state) if state is not none else 'null' }},
        p_start => {{ rt_date_literal(start_d) }},
        p_end => {{ rt_date_literal(end_d) }},
        p_runs => {{ ledger_runs_json() }},
        p_publish_last => {{ 'true' if publish_last else 'false' }}
    ) as advanced
{% endmacro %}


{#-
    The settings of the one run the nightly ledger and a backtest make, as the JSON array the ledger
    function reads. Numbers are rendered as dbt's float filter prints them, so the numeric values (and
    their scale) are the ones the settings give.
-#}
{% macro ledger_runs_json() -%}
    '[{
        "run_id": 1,
        "capital": {{ var('rt_start_capital') | float }},
        "atr_stop_k": {{ var('rt_atr_stop_k') | float }},
        "enable_stop": {{ 'true' if var('rt_enable_atr_stop') | int == 1 else 'false' }},
        "cooldown_days": {{ var('rt_cooldown_days_on_stop') | int }},
        "pct_per_trade": {{ var('rt_pct_per_trade') | float }},
        "daily_risk_cap": {{ var('rt_daily_risk_cap') | float }},
        "max_sector": {{ var('rt_max_exposure_per_sector') | float }}
    }]'::jsonb
{%- endmacro %}
