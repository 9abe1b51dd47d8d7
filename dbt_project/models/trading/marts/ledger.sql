{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['record_type', 'd']}],
    )
}}

-- The paper ledger, one long table (see ledger.yml). Nightly: the function reads this table's last
-- day as yesterday's state and appends the new days only; nothing new = nothing appended (idempotent).
with

ledger as (

    {{ ledger_advance(this if is_incremental() else none, var('rt_ledger_start'), '', false) }}

),

final as (

    select * from ledger

)

select * from final
