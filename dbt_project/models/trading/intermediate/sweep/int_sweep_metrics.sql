{{ sweep_stored_config(['sweep_id', 'block', 'run_id', 'portfolio'], unique=true) }}

-- The backtest report of each run per block of the sweep being built (the strategy and the benchmark
-- bought and held), by backtest_summary's rules (macros/trading/ledger_reports.sql, per run).
{%- set this_sweep = ' where sweep_id = ' ~ (var('rt_sweep_id') | int) ~ ') as sweep' %}
{{ rt_ledger_summary(
    '(select * from ' ~ ref('int_sweep_daily') ~ this_sweep,
    '(select * from ' ~ ref('int_sweep_trades') ~ this_sweep,
    ['sweep_id', 'block', 'run_id'],
) }}
