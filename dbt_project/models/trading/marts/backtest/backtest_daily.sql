{{ config(enabled=rt_backtest_enabled()) }}

-- The backtest's equity curve next to RT_BENCHMARK_SYMBOL (SPY) bought and held, with each day's traded
-- value and trading costs. The rules are macros/trading/ledger_reports.sql, shared with the parameter sweep.
{{ rt_ledger_daily(ref('backtest_ledger'), []) }}
