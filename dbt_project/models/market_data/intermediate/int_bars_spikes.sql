-- Isolated bad prints: a close that jumps more than RT_SPIKE_PCT (25%) away from the previous clean
-- close while the next clean close is back within RT_SPIKE_REVERT_PCT (5%) of the previous one.
-- A real move (earnings gap, split) does not revert the next day; a bad print (LNT 2016-05-19,
-- NWL 2017-09-14 in the sample) does. The newest bar of a symbol has no next bar and is never flagged
-- here (it is re-checked the next night).
with

clean as (

    select
        source,
        symbol,
        d,
        dup_seq,
        close

    from {{ ref('int_bars_checked') }}
    where is_clean

),

neighbours as (

    select
        *,
        lag(close) over by_symbol as prev_close,
        lead(close) over by_symbol as next_close

    from clean

    window by_symbol as (partition by source, symbol order by d)

),

flagged as (

    select
        source,
        symbol,
        d,
        dup_seq

    from neighbours
    where
        prev_close > 0
        and next_close > 0
        and abs(close / prev_close - 1) > {{ var('rt_spike_pct') | float }}
        and abs(next_close / prev_close - 1) < {{ var('rt_spike_revert_pct') | float }}

)

select * from flagged
