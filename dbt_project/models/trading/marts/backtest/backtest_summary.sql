{{ config(enabled=rt_backtest_enabled()) }}

-- The backtest report, one row for the strategy and one for the benchmark bought and held. The metrics and
-- their formulas are macros/trading/ledger_reports.sql, shared with the parameter sweep.
{{ rt_ledger_summary(ref('backtest_daily'), ref('backtest_trades'), []) }}
