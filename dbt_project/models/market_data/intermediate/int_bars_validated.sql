-- Every raw bar with all its quarantine reasons: the structural ones plus isolated_price_spike.
with

checked as (

    select * from {{ ref('int_bars_checked') }}

),

spikes as (

    select * from {{ ref('int_bars_spikes') }}

),

validated as (

    select
        checked.source,
        checked.symbol,
        checked.d,
        checked.dup_seq,
        checked.open,
        checked.high,
        checked.low,
        checked.close,
        checked.adj_close,
        checked.volume,
        checked.source_priority,
        checked.source_ref,
        checked.loaded_at,
        concat_ws(
            ',',
            nullif(checked.reasons, ''),
            case when spikes.symbol is not null then 'isolated_price_spike' end
        ) as reasons,
        checked.is_clean and spikes.symbol is null as is_clean

    from checked
    left join spikes
        on
            checked.source = spikes.source
            and checked.symbol = spikes.symbol
            and checked.d = spikes.d
            and checked.dup_seq = spikes.dup_seq

)

select * from validated
