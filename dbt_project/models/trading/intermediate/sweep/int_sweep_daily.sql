{{ sweep_stored_config(['sweep_id', 'block', 'run_id', 'd'], unique=true) }}

-- Each run's equity curve per block of the sweep being built, next to the benchmark bought and held from
-- the block's first day, by the backtest's rules (macros/trading/ledger_reports.sql, per run).
{{ rt_ledger_daily(
    '(select * from ' ~ ref('int_sweep_ledger') ~ ' where sweep_id = ' ~ (var('rt_sweep_id') | int) ~ ') as sweep',
    ['sweep_id', 'block', 'run_id'],
) }}
