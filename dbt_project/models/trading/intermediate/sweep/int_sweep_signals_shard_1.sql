-- The signals of the signal sets that shard 1 of the sweep's ledger pass trades
-- (macros/trading/sweep_signals_shard.sql).
{{ sweep_signals_shard(1) }}
