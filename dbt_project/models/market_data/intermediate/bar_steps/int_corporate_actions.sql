{{ config(materialized='view') }}

-- Splits and dividends of every source in one shape (source, symbol, d, action, value).
with

{%- for source_name in ['fmp', 'yfinance', 'sample'] %}

{{ source_name }} as (

    select
        source,
        symbol,
        d,
        action,
        value

    from {{ ref('stg_' ~ source_name ~ '__corporate_actions') }}

),
{%- endfor %}

unioned as (

    select * from fmp
    union all
    select * from yfinance
    union all
    select * from sample

)

select * from unioned
