{{ config(materialized='view') }}

-- One row per raw bar with the structural reasons it is malformed ('' = clean); see
-- macros/market_data/bar_steps.sql. A view over the whole history.
with

unified as (

    select * from {{ ref('int_bars_unified') }}

),

{{ rt_bars_checked_ctes('unified', 'checked') }}

select * from checked
