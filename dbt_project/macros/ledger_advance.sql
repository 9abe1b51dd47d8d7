{#
    The call of intermediate.rt_ledger_advance shared by ledger (nightly) and backtest_ledger:
    same inputs, same settings, only the state and the window differ. `state` is a relation (the model's
    own table when incremental) or none for a fresh account; `start_d`/`end_d` are 'YYYY-MM-DD' or ''.
#}
{% macro ledger_advance(state, start_d, end_d) %}
    select *
    from intermediate.rt_ledger_advance(
        p_bars => '{{ ref("bars_daily") }}',
        p_signals => '{{ ref("signals_daily") }}',
        p_market => '{{ ref("market_state") }}',
        p_symbols => '{{ ref("symbols") }}',
        p_state => {{ "'" ~ state ~ "'" if state is not none else "null" }},
        p_start => {{ "'" ~ start_d ~ "'::date" if start_d else "null::date" }},
        p_end => {{ "'" ~ end_d ~ "'::date" if end_d else "null::date" }},
        p_capital => {{ var('rt_start_capital') | float }}::numeric,
        p_atr_stop_k => {{ var('rt_atr_stop_k') | float }}::numeric,
        p_enable_stop => {{ 'true' if var('rt_enable_atr_stop') | int == 1 else 'false' }},
        p_cooldown_days => {{ var('rt_cooldown_days_on_stop') | int }},
        p_pct_per_trade => {{ var('rt_pct_per_trade') | float }}::numeric,
        p_daily_risk_cap => {{ var('rt_daily_risk_cap') | float }}::numeric,
        p_max_sector => {{ var('rt_max_exposure_per_sector') | float }}::numeric
    )
{% endmacro %}
