-- Shard 0 of the sweep's ledger pass: the runs whose int_sweep_runs.ledger_shard is 0
-- (macros/trading/sweep_ledger_shard.sql).
{{ sweep_ledger_shard(0) }}
