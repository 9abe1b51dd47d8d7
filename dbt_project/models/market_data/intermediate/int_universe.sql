-- The investable universe: FMP's constituent list when one is loaded, else the bundled snapshot.
with

fmp as (

    select * from {{ ref('stg_fmp__constituents') }}

),

bundled as (

    select * from {{ ref('stg_sample__constituents') }}

),

chosen as (

    select * from fmp

    union all

    select * from bundled
    where not exists (select 1 from fmp)

),

final as (

    select
        symbol,
        name,
        sector,
        sub_industry,
        date_added,
        source as sector_source,
        loaded_at

    from chosen

)

select * from final
