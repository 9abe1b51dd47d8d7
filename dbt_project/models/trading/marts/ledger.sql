{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['record_type', 'd']}, {'columns': ['computed_at']}],
        pre_hook="{{ ledger_add_computed_at(this) }}",
    )
}}

-- The paper ledger, one long table (see ledger.yml). Nightly: the function reads this table's last
-- day as yesterday's state and appends the new days only; nothing new = nothing appended (idempotent).
-- computed_at marks the build that appended a row: the ledger's tests check the latest batch's days.
with

ledger as (

    {{ ledger_advance(this if is_incremental() else none, var('rt_ledger_start'), '', false) }}

),

final as (

    select
        *,
        '{{ run_started_at }}'::timestamptz as computed_at

    from ledger

)

select * from final
