{#- Sane bounds, far outside real trading: BRK.A trades near 1e6 dollars a share, a hundredth of a cent
    is below any quoted price, and split-adjusted daily volumes stay well below 1e11 shares. -#}
{%- set max_price = 10000000 %}
{%- set min_price = 0.0001 %}
{%- set max_volume = 1000000000000 %}
-- One row per raw bar with the structural reasons it is malformed, comma-separated ('' = clean).
-- Reasons: missing_price, non_finite_number (Infinity or NaN anywhere), price_out_of_range (a price
-- above {{ max_price }} or below {{ min_price }}), non_positive_price, missing_volume, not_a_number
-- (a field was sent but was not a number, e.g. a word or true/false), negative_volume,
-- volume_out_of_range (above {{ max_volume }}), high_below_low, open_outside_range, close_outside_range,
-- duplicate_key (an identical repeat of a kept row), duplicate_key_conflict (repeats that disagree:
-- none of them is trusted), future_date, symbol_not_in_universe.
-- Every check is a comparison of the float8 values as stored: nothing is cast before a bar is known to
-- be in range, so one absurd row (a volume of 1e20) is quarantined instead of breaking bars_daily.
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
            -- float8 sorts NaN above Infinity, so one comparison finds both
            case
                when
                    greatest(
                        abs(bars.open), abs(bars.high), abs(bars.low), abs(bars.close), abs(bars.adj_close),
                        abs(bars.volume)
                    ) >= 'Infinity'::float8
                    then 'non_finite_number'
            end,
            case
                when
                    greatest(bars.open, bars.high, bars.low, bars.close, bars.adj_close)
                    > {{ max_price }}::float8
                    or least(bars.open, bars.high, bars.low, bars.close, bars.adj_close) > 0::float8
                    and least(bars.open, bars.high, bars.low, bars.close, bars.adj_close)
                    < {{ min_price }}::float8
                    then 'price_out_of_range'
            end,
            case
                when
                    bars.open <= 0 or bars.high <= 0 or bars.low <= 0 or bars.close <= 0
                    or bars.adj_close <= 0
                    then 'non_positive_price'
            end,
            case when bars.volume is null then 'missing_volume' end,
            case when bars.unreadable is not null then 'not_a_number' end,
            case when bars.volume < 0 then 'negative_volume' end,
            case when bars.volume > {{ max_volume }}::float8 then 'volume_out_of_range' end,
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
