-- Every raw bar kept out of bars_daily, with why. Nothing is dropped silently: a raw row is either the
-- chosen bar in bars_daily, a clean bar of a less-preferred source (compared in
-- bar_source_discrepancies), or here.
with

validated as (

    select * from {{ ref('int_bars_validated') }}

),

chosen as (

    select
        symbol,
        d,
        source

    from {{ ref('bars_daily') }}

),

final as (

    select
        validated.source,
        validated.symbol,
        validated.d,
        validated.dup_seq,
        split_part(validated.reasons, ',', 1) as reason,
        validated.reasons,
        validated.open,
        validated.high,
        validated.low,
        validated.close,
        validated.adj_close,
        validated.volume,
        chosen.source as replaced_by_source,
        validated.source_ref,
        validated.loaded_at

    from validated
    left join chosen
        on
            validated.symbol = chosen.symbol
            and validated.d = chosen.d
    where not validated.is_clean

)

select * from final
