{{ config(materialized='view') }}

-- Clean bars of every source with their adjustment factors; see macros/market_data/bar_steps.sql. A view
-- over the whole history.
with

validated as (

    select * from {{ ref('int_bars_validated') }}

),

{{ rt_bars_adjusted_ctes('validated', 'adjusted') }}

select
    source,
    symbol,
    d,
    dup_seq,
    source_priority,
    open,
    high,
    low,
    close,
    volume,
    source_ref,
    loaded_at,
    vendor_adj_close,
    adj_factor,
    split_factor

from adjusted
