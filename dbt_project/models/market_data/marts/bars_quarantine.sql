-- Every raw bar kept out of bars_daily, with why. Nothing is dropped silently: a raw row is either the
-- chosen bar in bars_daily, a clean bar of a less-preferred source (compared in
-- bar_source_discrepancies), or here. Bar rows the ingestion door refused before they could be stored
-- (a symbol that is not a ticker, a date that is not YYYY-MM-DD) are here too, from the sources'
-- rejects tables: their symbol is the text as sent, d is null unless the date was readable, dup_seq is
-- null, and reject_id, detail and row_text say which row of which file and why. A view: the bars are the
-- rows of int_bars_processed that are not clean, the refused rows come from the rejects tables.
{{ config(materialized='view') }}

with

processed as not materialized (

    select * from {{ ref('int_bars_processed') }}

),

sample_rejects as (

    select * from {{ ref('stg_sample__rejects') }}

),

fmp_rejects as (

    select * from {{ ref('stg_fmp__rejects') }}

),

yfinance_rejects as (

    select * from {{ ref('stg_yfinance__rejects') }}

),

chosen as (

    select
        symbol,
        d,
        source

    from processed
    where is_chosen

),

quarantined as (

    select
        source,
        symbol,
        d,
        dup_seq,
        split_part(reasons, ',', 1) as reason,
        reasons,
        open,
        high,
        low,
        close,
        adj_close,
        volume,
        source_ref,
        loaded_at,
        null::text as reject_id,
        'sent but not a number: ' || unreadable as detail,
        null::text as row_text

    from processed
    where not is_clean

),

rejected as (

    select * from sample_rejects
    union all
    select * from fmp_rejects
    union all
    select * from yfinance_rejects

),

refused as (

    select
        source,
        symbol_text as symbol,
        d,
        null::integer as dup_seq,
        reason,
        reason as reasons,
        null::double precision as open,
        null::double precision as high,
        null::double precision as low,
        null::double precision as close,
        null::double precision as adj_close,
        null::double precision as volume,
        source_ref,
        loaded_at,
        reject_id,
        detail,
        row_text

    from rejected
    where kind = 'bars'

),

held as (

    select * from quarantined
    union all
    select * from refused

),

final as (

    select
        held.source,
        held.symbol,
        held.d,
        held.dup_seq,
        held.reason,
        held.reasons,
        held.open,
        held.high,
        held.low,
        held.close,
        held.adj_close,
        held.volume,
        chosen.source as replaced_by_source,
        held.source_ref,
        held.loaded_at,
        held.reject_id,
        held.detail,
        held.row_text

    from held
    left join chosen
        on
            held.symbol = chosen.symbol
            and held.d = chosen.d

)

select * from final
