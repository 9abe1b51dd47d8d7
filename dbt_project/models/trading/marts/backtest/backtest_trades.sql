{{ config(enabled=rt_backtest_enabled()) }}

-- Round trips of the backtest: each filled buy paired with the exit that closed it; open ones valued at the
-- last close. The rules are macros/trading/ledger_reports.sql, shared with the parameter sweep.
{{ rt_ledger_trades(ref('backtest_ledger'), []) }}
