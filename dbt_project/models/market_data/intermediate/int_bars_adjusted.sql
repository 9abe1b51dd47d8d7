-- Clean bars of every source with adjustment factors.
-- adj_factor: multiply a price by it to get the split- and dividend-adjusted price. It is the vendor's
-- adj_close / close when the vendor sends an adjusted close, else it is built from the source's dividend
-- events (Yahoo's method: every price before an ex-date times 1 - dividend / previous close), else 1.
-- On a symbol's newest bar it is 1, so adjusted prices equal traded prices there.
-- split_factor: shares one share of that day became through later splits (informational: vendors
-- already send split-adjusted prices; traded price of the day = price * split_factor).
with

bars as (

    select * from {{ ref('int_bars_validated') }}
    where is_clean

),

actions as (

    select
        source,
        symbol,
        d,
        action,
        value
    from {{ ref('stg_fmp__corporate_actions') }}

    union all

    select
        source,
        symbol,
        d,
        action,
        value
    from {{ ref('stg_yfinance__corporate_actions') }}

    union all

    select
        source,
        symbol,
        d,
        action,
        value
    from {{ ref('stg_sample__corporate_actions') }}

),

dividends as (

    select
        source,
        symbol,
        d,
        value

    from actions
    where action = 'dividend' and value > 0

),

splits as (

    select
        source,
        symbol,
        d,
        ln(value) as ln_ratio

    from actions
    where action = 'split' and value > 0

),

-- Bars and events in one stream per symbol; an event on day e must apply to bars before e only.
stream as (

    select
        source,
        symbol,
        d,
        1 as kind,
        close,
        null::double precision as dividend,
        0::double precision as ln_split

    from bars

    union all

    select
        source,
        symbol,
        d,
        0 as kind,
        null as close,
        value as dividend,
        0 as ln_split

    from dividends

    union all

    select
        source,
        symbol,
        d,
        0 as kind,
        null as close,
        null as dividend,
        ln_ratio as ln_split

    from splits

),

event_multipliers as (

    select
        *,
        -- events sort before the bar of their own date, so lag() is the close of the bar before
        case
            when dividend is not null
                then ln(greatest(1 - dividend / nullif(lag(close) over by_date, 0), 1e-9))
            else 0
        end as ln_dividend

    from stream

    window by_date as (partition by source, symbol order by d, kind)

),

factored as (

    select
        *,
        coalesce(sum(ln_dividend) over later_first, 0) as ln_dividend_factor,
        coalesce(sum(ln_split) over later_first, 0) as ln_split_factor

    from event_multipliers

    -- descending: a bar sorts before an event of its own date, so only later events are summed
    window later_first as (
        partition by source, symbol order by d desc, kind desc
        rows between unbounded preceding and current row
    )

),

bar_factors as (

    select
        source,
        symbol,
        d,
        ln_dividend_factor,
        ln_split_factor

    from factored
    where kind = 1

),

final as (

    select
        bars.source,
        bars.symbol,
        bars.d,
        bars.dup_seq,
        bars.source_priority,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.source_ref,
        bars.loaded_at,
        bars.adj_close as vendor_adj_close,
        case
            when bars.adj_close is not null then bars.adj_close / bars.close
            else exp(bar_factors.ln_dividend_factor)
        end as adj_factor,
        exp(bar_factors.ln_split_factor) as split_factor

    from bars
    inner join bar_factors
        on
            bars.source = bar_factors.source
            and bars.symbol = bar_factors.symbol
            and bars.d = bar_factors.d

)

select * from final
