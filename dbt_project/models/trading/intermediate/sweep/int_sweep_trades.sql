{{ sweep_stored_config(['sweep_id', 'block', 'run_id']) }}

-- Each run's round trips per block of the sweep being built, by the backtest's rules
-- (macros/trading/ledger_reports.sql, per run).
{{ rt_ledger_trades(
    '(select * from ' ~ ref('int_sweep_ledger') ~ ' where sweep_id = ' ~ (var('rt_sweep_id') | int) ~ ') as sweep',
    ['sweep_id', 'block', 'run_id'],
) }}
