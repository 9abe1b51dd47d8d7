-- Where FMP and Yahoo both have a clean bar: closes that differ by more than RT_DISCREPANCY_PCT
-- (default 0.5%) relative to the mean of the two. is_flagged rows deserve a look before trusting either.
with

adjusted as not materialized (

    select * from {{ ref('int_bars_processed') }}
    where is_clean

),

fmp as (

    select * from adjusted
    where source = 'fmp'

),

yahoo as (

    select * from adjusted
    where source = 'yfinance'

),

compared as (

    select
        fmp.symbol,
        fmp.d,
        fmp.close as fmp_close,
        yahoo.close as yfinance_close,
        abs(fmp.close - yahoo.close) / ((fmp.close + yahoo.close) / 2) as close_diff_pct,
        fmp.volume as fmp_volume,
        yahoo.volume as yfinance_volume

    from fmp
    inner join yahoo
        on
            fmp.symbol = yahoo.symbol
            and fmp.d = yahoo.d

),

final as (

    select
        *,
        close_diff_pct > {{ var('rt_discrepancy_pct') | float }} as is_flagged

    from compared

)

select * from final
