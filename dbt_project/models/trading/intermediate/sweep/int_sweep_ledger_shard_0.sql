-- Shard 0 of the sweep's ledger pass: the runs whose run_id mod sweep_ledger_shards() is 0
-- (macros/trading/sweep_ledger_shard.sql).
{{ sweep_ledger_shard(0) }}
