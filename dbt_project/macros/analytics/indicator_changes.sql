{#
    What the incremental build of indicators_daily does tonight with each symbol, and why: one row per
    symbol of bars_daily or of the stored table (`stored`, the model's own {{ this }}), with
    mode 'append' (new bars after the last stored day, computed from the carried state), 'full' (recompute
    the whole symbol: new symbol, fewer than 15 stored bars, bars added or removed before the last stored
    day, or adjusted prices/volume that differ from the stored ones within the last
    RT_INDICATOR_RECHECK_DAYS calendar days, e.g. after a dividend or split), 'drop' (no bars left) or
    'none' (up to date), and `reason` in words.
    Nightly cost stays flat: one filtered pass over bars_daily for the recheck window, ~1,000 index probes
    into the stored table, and the bar counts of the symbols mart (symbols.n_bars), never a count over all
    history. Bars added or removed before the recheck window are caught through symbols.n_bars for the
    symbols of the symbols mart; for other symbols (e.g. old tickers outside the universe) run a full
    refresh after such a backfill.
#}
{% macro indicator_changes(stored) %}
{%- set recheck_days = var('rt_indicator_recheck_days') | int %}
with

bars as not materialized (

    select
        symbol,
        d,
        adj_open,
        adj_high,
        adj_low,
        adj_close,
        volume

    from {{ ref('bars_daily') }}

),

-- distinct stored symbols by walking the (symbol, d) index, then each one's last row: ~1,000 probes
stored_symbols as (

    with recursive walk as (
        (
            select stored.symbol
            from {{ stored }} as stored
            order by stored.symbol
            limit 1
        )

        union all

        select
            (
                select stored.symbol
                from {{ stored }} as stored
                where stored.symbol > walk.symbol
                order by stored.symbol
                limit 1
            ) as symbol

        from walk
        where walk.symbol is not null
    )

    select symbol from walk
    where symbol is not null

),

stored_last as (

    select
        last_row.symbol,
        last_row.d as stored_last_d,
        last_row.bar_number as stored_n_bars

    from stored_symbols
    cross join lateral (
        select
            stored.symbol,
            stored.d,
            stored.bar_number

        from {{ stored }} as stored
        where stored.symbol = stored_symbols.symbol
        order by stored.d desc
        limit 1
    ) as last_row

),

recheck as (

    select max(stored_last_d) - {{ recheck_days }} as recheck_from
    from stored_last

),

stored_tail as (

    select
        stored.symbol,
        stored.d,
        stored.adj_open,
        stored.adj_high,
        stored.adj_low,
        stored.adj_close,
        stored.volume

    from {{ stored }} as stored
    where stored.d >= (select recheck.recheck_from from recheck)

),

bars_tail as materialized (

    select bars.*

    from bars
    where bars.d >= (select recheck.recheck_from from recheck)

),

-- bar counts of the symbols mart (built from bars_daily in the same run): no count over all history here
universe_counts as (

    select
        symbol,
        n_bars,
        first_d,
        last_d

    from {{ ref('symbols') }}

),

tail_counts as (

    select
        bars_tail.symbol,
        count(*) filter (where bars_tail.d > stored_last.stored_last_d) as n_after_stored_last,
        max(bars_tail.d) as last_d

    from bars_tail
    left join stored_last
        on bars_tail.symbol = stored_last.symbol
    group by bars_tail.symbol

),

-- rows of the recheck window that differ: other adjusted prices or volume, a stored row gone from
-- bars_daily, or a bar of bars_daily inside the stored range that was never stored
tail_diffs as (

    select
        coalesce(stored_tail.symbol, bars_tail.symbol) as symbol,
        count(*) as n_changed

    from stored_tail
    full outer join bars_tail
        on
            stored_tail.symbol = bars_tail.symbol
            and stored_tail.d = bars_tail.d
    left join stored_last
        on coalesce(stored_tail.symbol, bars_tail.symbol) = stored_last.symbol
    where
        (stored_tail.symbol is null and bars_tail.d <= stored_last.stored_last_d)
        or bars_tail.symbol is null
        or (
            stored_tail.symbol is not null
            and (
                stored_tail.adj_open is distinct from bars_tail.adj_open
                or stored_tail.adj_high is distinct from bars_tail.adj_high
                or stored_tail.adj_low is distinct from bars_tail.adj_low
                or stored_tail.adj_close is distinct from bars_tail.adj_close
                or stored_tail.volume is distinct from bars_tail.volume
            )
        )
    group by coalesce(stored_tail.symbol, bars_tail.symbol)

),

all_symbols as (

    select symbol from universe_counts
    union
    select symbol from tail_counts
    union
    select symbol from stored_last

),

compared as (

    select
        all_symbols.symbol,
        universe_counts.n_bars,
        universe_counts.first_d,
        coalesce(tail_counts.last_d, universe_counts.last_d, stored_last.stored_last_d) as last_d,
        stored_last.stored_n_bars,
        stored_last.stored_last_d,
        universe_counts.n_bars - coalesce(tail_counts.n_after_stored_last, 0) as n_bars_to_stored_last,
        universe_counts.symbol is not null as in_symbols_mart,
        coalesce(universe_counts.n_bars, 0) > 0 or tail_counts.symbol is not null as has_bars,
        coalesce(tail_diffs.n_changed, 0) as n_changed_in_recheck

    from all_symbols
    left join universe_counts
        on all_symbols.symbol = universe_counts.symbol
    left join tail_counts
        on all_symbols.symbol = tail_counts.symbol
    left join stored_last
        on all_symbols.symbol = stored_last.symbol
    left join tail_diffs
        on all_symbols.symbol = tail_diffs.symbol

),

final as (

    select
        symbol,
        n_bars,
        first_d,
        last_d,
        stored_n_bars,
        stored_last_d,
        case
            -- a stored symbol of the symbols mart with no bars left; other symbols are known by their
            -- recent bars only, so one without any is left as stored
            when not has_bars and in_symbols_mart and stored_n_bars is not null then 'drop'
            when not has_bars then 'none'
            when stored_n_bars is null then 'full'
            -- still inside the 15-bar Wilder seed: its partial sums are not stored, recompute (cheap)
            when stored_n_bars < 15 then 'full'
            when n_bars_to_stored_last != stored_n_bars then 'full'
            when n_changed_in_recheck > 0 then 'full'
            when last_d > stored_last_d then 'append'
            else 'none'
        end as mode,
        case
            when not has_bars and in_symbols_mart and stored_n_bars is not null then 'no bars left in bars_daily'
            when not has_bars then 'no recent bars'
            when stored_n_bars is null then 'new symbol'
            when stored_n_bars < 15 then 'fewer than 15 stored bars'
            when n_bars_to_stored_last != stored_n_bars
                then 'bars added or removed before the last stored day'
            when n_changed_in_recheck > 0 then 'adjusted prices or volume changed'
            when last_d > stored_last_d then 'new bars'
            else 'up to date'
        end as reason

    from compared

)

select * from final
{% endmacro %}


{#
    Post-hook of an incremental build keyed by (symbol, d) that writes a symbol's rows all at once when it
    recomputes it in full (its first row, bar_number 1, is among this run's rows): delete that symbol's
    rows an earlier run wrote (stored days that are no longer bars), and every row of a symbol the
    symbols mart lists with no bars left. delete+insert has already replaced the rows written tonight.
#}
{% macro rt_delete_superseded_rows(relation) %}
    delete from {{ relation }} as stored
    using (
        select written.symbol
        from {{ relation }} as written
        where written.computed_at = '{{ run_started_at }}'::timestamptz and written.bar_number = 1
    ) as recomputed
    where stored.symbol = recomputed.symbol and stored.computed_at < '{{ run_started_at }}'::timestamptz;

    delete from {{ relation }}
    where symbol in (select symbol from {{ ref('symbols') }} where coalesce(n_bars, 0) = 0)
{% endmacro %}
