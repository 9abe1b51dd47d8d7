{#
    Which symbols the incremental build of int_bars_processed (`stored`, its own {{ this }}) recomputes
    tonight, and from where: one row per symbol with mode 'full' (its whole history) or 'tail' (only the
    days after its last structurally clean stored day), context_from (the first raw day the steps read),
    write_from (the first day written) and read_until (a tail symbol's newest raw day, stored or fresh). Symbols not listed stay as stored.

    A symbol is recomputed in full when
      - a source sent it for the first time;
      - a raw row at or before its newest stored day of that source was added, corrected or (within the
        re-read window) removed, as the re-read tail or a vendor correction does;
      - its corporate actions changed (a new dividend re-adjusts the whole history);
      - whether it is a known ticker changed (index membership, the constituent list);
      - a bar quarantined as future_date is no longer in the future;
      - it gained days but no source has a structurally clean stored day.
    Otherwise a symbol with new raw rows only after its newest stored day is recomputed from its last
    structurally clean stored day on: that day's isolated-spike decision needs the next clean close, which
    has just arrived, and each source's clean day before that is the look-back (context_from).
    Nightly cost: the raw rows loaded since the last build (index on loaded_at), index probes per symbol
    into the stored table, and the corporate actions; never a scan of the whole history.
#}
{% macro rt_bar_changes(stored) %}
with

last_build as (

    select max(loaded_at) as loaded_until from {{ stored }}

),

fresh_raw as (

    {%- for source_name in ['fmp', 'yfinance', 'sample'] %}
    select
        staged.source,
        staged.symbol,
        staged.d,
        staged.dup_seq,
        staged.open,
        staged.high,
        staged.low,
        staged.close,
        staged.adj_close,
        staged.volume,
        staged.unreadable
    from {{ ref('stg_' ~ source_name ~ '__bars') }} as staged
    where staged.loaded_at > (select coalesce(last_build.loaded_until, '-infinity') from last_build)
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

fresh_series as (

    select
        fresh_raw.source,
        fresh_raw.symbol,
        min(fresh_raw.d) as first_fresh_d,
        max(fresh_raw.d) as last_fresh_d,
        (
            select max(stored_rows.d) from {{ stored }} as stored_rows
            where stored_rows.source = fresh_raw.source and stored_rows.symbol = fresh_raw.symbol
        ) as stored_last_d

    from fresh_raw
    group by fresh_raw.source, fresh_raw.symbol

),

-- fresh rows at or before the stored newest day that are not exactly the stored row
rewritten as (

    select distinct fresh_raw.symbol

    from fresh_raw
    inner join fresh_series
        on fresh_raw.source = fresh_series.source and fresh_raw.symbol = fresh_series.symbol
    -- a probe of the stored key per fresh row (offset 0 keeps the subquery from being flattened into a
    -- join): the planner expects a third of the raw table to be fresh and would otherwise hash the whole
    -- stored table (0.65 s at 10 years) to compare a night's few thousand rows
    left join lateral (
        select
            stored_key.symbol,
            stored_key.open,
            stored_key.high,
            stored_key.low,
            stored_key.close,
            stored_key.adj_close,
            stored_key.volume,
            stored_key.unreadable
        from {{ stored }} as stored_key
        where
            stored_key.source = fresh_raw.source
            and stored_key.symbol = fresh_raw.symbol
            and stored_key.d = fresh_raw.d
            and stored_key.dup_seq = fresh_raw.dup_seq
        offset 0
    ) as stored_rows on true
    where
        fresh_raw.d <= fresh_series.stored_last_d
        and (
            stored_rows.symbol is null
            or (
                stored_rows.open, stored_rows.high, stored_rows.low, stored_rows.close, stored_rows.adj_close,
                stored_rows.volume, stored_rows.unreadable
            ) is distinct from (
                fresh_raw.open, fresh_raw.high, fresh_raw.low, fresh_raw.close, fresh_raw.adj_close,
                fresh_raw.volume, fresh_raw.unreadable
            )
        )

),

-- the raw rows of the re-read window (the raw bars' index on d): what the vanished-row check compares
present as materialized (

    {%- for source_name in ['fmp', 'yfinance', 'sample'] %}
    select staged.source, staged.symbol, staged.d, staged.dup_seq
    from {{ ref('stg_' ~ source_name ~ '__bars') }} as staged
    where staged.d >= (select min(fresh_series.first_fresh_d) - 10 from fresh_series)
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

-- stored rows of the re-read window that the raw tables no longer hold
vanished as (

    select distinct stored_rows.symbol

    from fresh_series
    cross join lateral (
        select window_rows.source, window_rows.symbol, window_rows.d, window_rows.dup_seq
        from {{ stored }} as window_rows
        where
            window_rows.source = fresh_series.source
            and window_rows.symbol = fresh_series.symbol
            and window_rows.d >= fresh_series.first_fresh_d - 10
        offset 0  -- keeps the subquery a per-series probe (the planner would flatten it into a merge)
    ) as stored_rows
    where not exists (
        select 1
        from present
        where
            present.source = stored_rows.source
            and present.symbol = stored_rows.symbol
            and present.d = stored_rows.d
            and present.dup_seq = stored_rows.dup_seq
    )

),

-- the stored (source, symbol) series, walking the (source, symbol, ...) index: a few hundred probes
stored_series as (

    with recursive walk as (
        (
            select stored_rows.source, stored_rows.symbol
            from {{ stored }} as stored_rows
            order by stored_rows.source, stored_rows.symbol
            limit 1
        )

        union all

        select next_row.source, next_row.symbol
        from walk
        cross join lateral (
            select stored_rows.source, stored_rows.symbol
            from {{ stored }} as stored_rows
            where (stored_rows.source, stored_rows.symbol) > (walk.source, walk.symbol)
            order by stored_rows.source, stored_rows.symbol
            limit 1
        ) as next_row
    )

    select walk.source, walk.symbol from walk

),

-- each stored symbol's newest row (of any source; the first source by name on a tie) says what the last
-- build knew of it: one backward probe of the (source, symbol, d) index per source and symbol
stored_state as (

    select distinct on (newest_per_source.symbol)
        newest_per_source.symbol,
        newest_per_source.d as newest_d,
        newest_per_source.actions_fingerprint,
        position('symbol_not_in_universe' in newest_per_source.reasons) > 0 as was_unknown

    from (
        select
            stored_series.symbol,
            newest.d,
            stored_series.source,
            newest.actions_fingerprint,
            newest.reasons
        from stored_series
        cross join lateral (
            select stored_rows.d, stored_rows.actions_fingerprint, stored_rows.reasons
            from {{ stored }} as stored_rows
            where stored_rows.source = stored_series.source and stored_rows.symbol = stored_series.symbol
            order by stored_rows.d desc, stored_rows.dup_seq desc
            limit 1
        ) as newest
    ) as newest_per_source
    order by newest_per_source.symbol, newest_per_source.d desc, newest_per_source.source

),

actions_now as (

    select
        symbol,
        {{ rt_actions_fingerprint() }} as actions_fingerprint

    from {{ ref('int_corporate_actions') }}
    group by symbol

),

{{ rt_known_tickers_ctes('known_now') }},

status_changed as (

    select stored_state.symbol

    from stored_state
    left join actions_now
        on stored_state.symbol = actions_now.symbol
    left join known_now
        on stored_state.symbol = known_now.symbol
    where
        stored_state.actions_fingerprint is distinct from coalesce(actions_now.actions_fingerprint, 0)
        or stored_state.was_unknown = (known_now.symbol is not null)

),

no_longer_future as (

    select distinct stored_rows.symbol

    from {{ stored }} as stored_rows
    where
        not stored_rows.is_clean
        and position('future_date' in stored_rows.reasons) > 0
        and stored_rows.d <= (now() at time zone 'America/New_York')::date

),

first_seen as (

    select distinct symbol from fresh_series
    where stored_last_d is null

),

full_symbols as (

    select symbol from rewritten
    union
    select symbol from vanished
    union
    select symbol from status_changed
    union
    select symbol from no_longer_future
    union
    select symbol from first_seen

),

-- symbols that only gained days: every stored source of the symbol is recomputed from its last
-- structurally clean day, with the clean day before it as context
tail_candidates as (

    select distinct fresh_series.symbol

    from fresh_series
    where
        fresh_series.symbol not in (select full_symbols.symbol from full_symbols)
        and exists (
            select 1 from fresh_raw
            where
                fresh_raw.source = fresh_series.source
                and fresh_raw.symbol = fresh_series.symbol
                and fresh_raw.d > fresh_series.stored_last_d
        )

),

sources as (

    select source from (values ('fmp'), ('yfinance'), ('sample')) as listed (source)

),

-- each source's last structurally clean stored day: the days after the earliest of them are written again
write_bounds as (

    select
        tail_candidates.symbol,
        min(last_clean.d) as write_from

    from tail_candidates
    cross join sources
    cross join lateral (
        select stored_rows.d
        from {{ stored }} as stored_rows
        where
            stored_rows.source = sources.source and stored_rows.symbol = tail_candidates.symbol
            and stored_rows.is_structurally_clean
        order by stored_rows.d desc
        limit 1
    ) as last_clean
    group by tail_candidates.symbol

),

-- each source's last structurally clean day before that: the look-back of the first day written
tail_bounds as (

    select
        write_bounds.symbol,
        write_bounds.write_from,
        coalesce(min(context_day.d), write_bounds.write_from) as context_from,
        -- the symbol's newest raw day: every raw row is stored or fresh (the days a tail read probes)
        greatest(
            (select stored_state.newest_d from stored_state where stored_state.symbol = write_bounds.symbol),
            (
                select max(fresh_series.last_fresh_d) from fresh_series
                where fresh_series.symbol = write_bounds.symbol
            )
        ) as read_until

    from write_bounds
    cross join sources
    left join lateral (
        select stored_rows.d
        from {{ stored }} as stored_rows
        where
            stored_rows.source = sources.source and stored_rows.symbol = write_bounds.symbol
            and stored_rows.is_structurally_clean
            and stored_rows.d < write_bounds.write_from
        order by stored_rows.d desc
        limit 1
    ) as context_day on true
    group by write_bounds.symbol, write_bounds.write_from

),

final as (

    select
        symbol,
        'full' as mode,
        '-infinity'::date as context_from,
        '-infinity'::date as write_from,
        'infinity'::date as read_until

    from full_symbols

    union all

    select
        symbol,
        'tail',
        context_from,
        write_from,
        read_until

    from tail_bounds

    union all

    -- gained days but has no structurally clean stored day in any source: no context, recompute it
    select
        tail_candidates.symbol,
        'full',
        '-infinity'::date,
        '-infinity'::date,
        'infinity'::date

    from tail_candidates
    where tail_candidates.symbol not in (select tail_bounds.symbol from tail_bounds)

)

select * from final
{% endmacro %}


{#- A 64-bit fingerprint of the corporate actions of a group (use with `group by symbol`). -#}
{% macro rt_actions_fingerprint() -%}
    ('x' || substr(md5(string_agg(
        source || '|' || d::text || '|' || action || '|' || coalesce(value::text, ''), ','
        order by source, d, action, value
    )), 1, 16))::bit(64)::bigint
{%- endmacro %}


{#-
    Post-hook of int_bars_processed: the rows an earlier build wrote for the symbols this build recomputed,
    from where it recomputed them (rewrite_from), are replaced: delete+insert has overwritten the keys it
    wrote again; this deletes the ones raw no longer has.
-#}
{% macro rt_delete_superseded_bars(relation) %}
    -- Per source, so each recomputed symbol is an index range probe of (source, symbol, d): the rows just
    -- written have no statistics yet, the planner expects one symbol, and a join on symbol alone made it
    -- scan the whole table once per symbol (10 s for 504 symbols at 5 years).
    delete from {{ relation }} as stored
    using (
        select
            written.symbol,
            min(written.rewrite_from) as rewrite_from
        from {{ relation }} as written
        where written.computed_at = '{{ run_started_at }}'::timestamptz
        group by written.symbol
    ) as recomputed
    cross join (values ('fmp'), ('yfinance'), ('sample')) as sources (source)
    where
        stored.source = sources.source
        and stored.symbol = recomputed.symbol
        and stored.d >= recomputed.rewrite_from
        and stored.computed_at < '{{ run_started_at }}'::timestamptz
{% endmacro %}


{#-
    Post-hook of int_bars_processed: partial indexes for the views bars_daily (the chosen bars by symbol and
    day, and by day) and bars_quarantine (the rows kept out). dbt's index config has no WHERE clause.
-#}
{% macro rt_bars_processed_indexes(relation) %}
    create index if not exists {{ relation.identifier }}_chosen_symbol_d
    on {{ relation }} (symbol, d) where is_chosen;
    create index if not exists {{ relation.identifier }}_chosen_d
    on {{ relation }} (d) where is_chosen;
    create index if not exists {{ relation.identifier }}_held
    on {{ relation }} (symbol, d) where not is_clean
{% endmacro %}
