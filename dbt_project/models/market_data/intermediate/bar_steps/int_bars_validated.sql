{{ config(materialized='view') }}

-- Every raw bar with all its quarantine reasons: the structural ones plus isolated_price_spike; see
-- macros/market_data/bar_steps.sql. A view over the whole history.
-- Built after int_bars_spikes, as before the spike flags moved into a shared macro: two views of the
-- same step replaced at once by parallel dbt threads is a race this project does not need.
-- depends_on: {{ ref('int_bars_spikes') }}
with

checked as (

    select * from {{ ref('int_bars_checked') }}

),

{{ rt_bars_validated_ctes('checked', 'validated') }}

select * from validated
