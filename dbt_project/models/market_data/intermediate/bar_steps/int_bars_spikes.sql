{{ config(materialized='view') }}

-- Isolated bad prints among the structurally clean bars; see macros/market_data/bar_steps.sql. A view over
-- the whole history.
with

checked as (

    select * from {{ ref('int_bars_checked') }}

),

{{ rt_bars_spikes_ctes('checked', 'spikes') }}

select * from spikes
