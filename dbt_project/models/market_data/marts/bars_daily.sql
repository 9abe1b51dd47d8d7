{{ config(materialized='view') }}

-- One clean bar per (symbol, d): from RT_PRIMARY_SOURCE when it has a clean bar, else the next source.
-- Adjusted OHLC = raw * adj_factor (equal to the traded prices on a symbol's newest bar). A view of the
-- chosen rows of int_bars_processed (partial indexes on (symbol, d) and (d) serve it).
select
    symbol,
    d,
    source,
    open,
    high,
    low,
    close,
    volume::bigint as volume,
    adj_factor,
    split_factor,
    open * adj_factor as adj_open,
    high * adj_factor as adj_high,
    low * adj_factor as adj_low,
    close * adj_factor as adj_close,
    loaded_at

from {{ ref('int_bars_processed') }}
where is_chosen
