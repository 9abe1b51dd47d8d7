{{ config(materialized='view') }}

-- Every raw bar with all its quarantine reasons: the structural ones plus isolated_price_spike; see
-- macros/market_data/bar_steps.sql. A view over the whole history.
with

checked as (

    select * from {{ ref('int_bars_checked') }}

),

{{ rt_bars_validated_ctes('checked', 'validated') }}

select * from validated
