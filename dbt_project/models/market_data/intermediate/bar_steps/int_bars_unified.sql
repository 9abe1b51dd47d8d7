{{ config(materialized='view') }}

-- Every raw bar of every source in one shape with its source preference: the first step of the bar
-- pipeline over the whole history (macros/market_data/bar_steps.sql). A view: the nightly build runs the
-- same steps inside int_bars_processed, over the symbols that changed.
with

{{ rt_bars_unified_ctes('unified') }}

select * from unified
