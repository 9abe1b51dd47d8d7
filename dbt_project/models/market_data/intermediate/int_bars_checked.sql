-- One row per raw bar with the structural reasons it is malformed, comma-separated ('' = clean).
-- Reasons: missing_price, non_positive_price, missing_volume, negative_volume, high_below_low,
-- open_outside_range, close_outside_range, duplicate_key (an identical repeat of a kept row),
-- duplicate_key_conflict (repeats that disagree: none of them is trusted), future_date,
-- symbol_not_in_universe.
with

bars as (

    select * from {{ ref('int_bars_unified') }}

),

universe as (

    select symbol from {{ ref('int_universe') }}

    union

    select symbol from {{ ref('market_symbols') }}

),

copies as (

    select
        source,
        symbol,
        d,
        -- a row value: two copies count once only when every field matches
        count(distinct (open, high, low, close, adj_close, volume)) as distinct_versions  -- noqa: ST08, LT01, LT06

    from bars
    where key_copies > 1
    group by source, symbol, d

),

checked as (

    select
        bars.*,
        concat_ws(
            ',',
            case
                when bars.open is null or bars.high is null or bars.low is null or bars.close is null
                    then 'missing_price'
            end,
            case
                when
                    bars.open <= 0 or bars.high <= 0 or bars.low <= 0 or bars.close <= 0
                    or bars.adj_close <= 0
                    then 'non_positive_price'
            end,
            case when bars.volume is null then 'missing_volume' end,
            case when bars.volume < 0 then 'negative_volume' end,
            case when bars.high < bars.low then 'high_below_low' end,
            case when bars.open > bars.high or bars.open < bars.low then 'open_outside_range' end,
            case when bars.close > bars.high or bars.close < bars.low then 'close_outside_range' end,
            case when copies.distinct_versions = 1 and bars.dup_seq > 0 then 'duplicate_key' end,
            case when copies.distinct_versions > 1 then 'duplicate_key_conflict' end,
            case when bars.d > (now() at time zone 'America/New_York')::date then 'future_date' end,
            case when universe.symbol is null then 'symbol_not_in_universe' end
        ) as reasons

    from bars
    left join copies
        on
            bars.source = copies.source
            and bars.symbol = copies.symbol
            and bars.d = copies.d
    left join universe
        on bars.symbol = universe.symbol

),

final as (

    select
        *,
        reasons = '' as is_clean

    from checked

)

select * from final
