-- Every raw bar of every source in one shape, ranked by source preference (RT_PRIMARY_SOURCE first,
-- then the other live vendor, then the bundled/file source).
{%- set primary = var('rt_primary_source') %}
with

sample as (

    select * from {{ ref('stg_sample__bars') }}

),

fmp as (

    select * from {{ ref('stg_fmp__bars') }}

),

yfinance as (

    select * from {{ ref('stg_yfinance__bars') }}

),

unioned as (

    select * from fmp
    union all
    select * from yfinance
    union all
    select * from sample

),

ranked as (

    select
        *,
        case
            when source = {{ rt_literal(primary) }} then 1
            when source in ('fmp', 'yfinance') then 2
            else 3
        end as source_priority,
        count(*) over (partition by source, symbol, d) as key_copies

    from unioned

)

select * from ranked
