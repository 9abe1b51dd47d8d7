-- The runs parameter sweeps asked for, one row per run, every setting a sweep may vary as a typed column
-- named after its variable (rt_rsi_buy, rt_atr_stop_k, ...; the list and types are the var
-- rt_sweep_settings, JSON from rapidtrader.settings.sweep_columns).
with

source as (

    select * from {{ source('sweep', 'sweep_requests') }}

),

final as (

    select
        run_id,
        sweep_id,
        run_no,
        start_d,
        end_d,
        folds,
        grid_names,
        {%- for name, sql_type in fromjson(var('rt_sweep_settings')).items() %}
        (settings ->> {{ rt_literal(name) }})::{{ sql_type }} as {{ name }},
        {%- endfor %}
        ledger_run,
        requested_at

    from source

)

select * from final
