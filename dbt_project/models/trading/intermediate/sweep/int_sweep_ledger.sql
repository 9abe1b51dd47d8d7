{{ config(materialized='view') }}

-- The ledgers of every sweep: the union of the shards of the ledger pass (int_sweep_ledger_shard_<n>, one
-- call of the ledger function each, built at once; macros/trading/sweep_ledger_shard.sql). A run's rows
-- are all in one shard.
with

{% for n in range(sweep_ledger_shards()) %}
shard_{{ n }} as (

    select * from {{ ref('int_sweep_ledger_shard_' ~ n) }}

),

{% endfor %}
final as (

    {% for n in range(sweep_ledger_shards()) %}
    select * from shard_{{ n }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
