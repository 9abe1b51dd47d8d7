{{ config(materialized='view') }}

-- Every run of every parameter sweep: its id, its sweep, its window and folds, and each setting a sweep
-- may vary as a column named after its variable in lower case (rt_rsi_buy, rt_atr_stop_k, ...): the
-- grid's value, or the value the setting had when the sweep ran.
select
    run_id,
    sweep_id,
    run_no,
    start_d,
    end_d,
    folds,
    grid_names,
    {%- for name in fromjson(var('rt_sweep_settings')) %}
    {{ name }},
    {%- endfor %}
    requested_at

from {{ ref('stg_sweep__requests') }}
