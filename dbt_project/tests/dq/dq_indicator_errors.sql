-- Guards: impossible indicator values reaching the signals. Fails (critical, any row) with the indicator
-- rows written by the latest run whose RSI is outside [0, 100], whose ATR is negative (0 is allowed: a
-- flat symbol), or whose indicator is null although its window is full. Checking the latest run's rows
-- keeps the nightly cost flat; a full refresh checks every row.
{{ config(tags=['dq']) }}

with

latest_run as (

    select *

    from {{ ref('indicators_daily') }}
    where computed_at = {{ rt_latest_batch_literal(ref('indicators_daily'), 'computed_at') }}

),

final as (

    select
        symbol,
        d,
        bar_number,
        rsi_14,
        atr_14,
        sma_20,
        sma_200,
        case
            when rsi_14 < 0 or rsi_14 > 100 then 'rsi outside [0, 100]'
            when atr_14 < 0 then 'negative atr'
            when bar_number >= 15 and (rsi_14 is null or atr_14 is null) then 'rsi or atr missing after 14 bars'
            when bar_number >= 200 and sma_200 is null then 'sma missing after its window'
            when bar_number >= 20 and sma_20 is null then 'sma missing after its window'
        end as error

    from latest_run

)

select * from final
where error is not null
