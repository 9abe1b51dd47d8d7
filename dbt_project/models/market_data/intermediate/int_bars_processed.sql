-- The bar pipeline's one stored result: every raw bar of every source with its quarantine reasons, its
-- adjustment factors when clean, and whether it is the chosen bar of its (symbol, d). bars_daily and
-- bars_quarantine are views of it. The steps are macros/market_data/bar_steps.sql.
-- Incremental per symbol (macros/market_data/bar_changes.sql): a symbol whose raw rows only gained new
-- days is recomputed from its last structurally clean stored day on (that day's spike decision depends on
-- the day after it), reading back to the clean day before as context; a symbol whose history changed (an
-- old row corrected or gone, a new corporate action, a change of index membership, a future-dated bar
-- that is no longer in the future) is recomputed in full; every other symbol is left as stored. Every
-- window of the steps is per symbol, so this equals a full refresh row for row. A change of
-- RT_PRIMARY_SOURCE or of the spike settings needs `--full-refresh`.
{{
    config(
        materialized='incremental',
        unique_key=['source', 'symbol', 'd', 'dup_seq'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{% if is_incremental() %}{{ rt_delete_superseded_bars(this) }}{% endif %}",
            "{{ rt_bars_processed_indexes(this) }}",
            "{{ rt_analyze_if_never(this) }}",
        ],
        indexes=[
            {'columns': ['source', 'symbol', 'd', 'dup_seq'], 'unique': true},
            {'columns': ['computed_at']},
            {'columns': ['loaded_at']},
        ],
    )
}}

with

{% if is_incremental() %}

scope as materialized (

    {{ rt_bar_changes(this) }}

),

{% endif %}

{{ rt_bars_unified_ctes('unified', 'scope' if is_incremental() else none) }},

{{ rt_bars_checked_ctes('unified', 'checked') }},

{{ rt_bars_validated_ctes('checked', 'validated') }},

{{ rt_bars_adjusted_ctes('validated', 'adjusted', 'scope' if is_incremental() else none) }},

-- a fingerprint of each symbol's corporate actions (all of them): a new dividend re-adjusts its history
actions_fingerprints as (

    select
        symbol,
        {{ rt_actions_fingerprint() }} as actions_fingerprint

    from {{ ref('int_corporate_actions') }}
    {% if is_incremental() %}
    where symbol in (select scope.symbol from scope)
    {% endif %}
    group by symbol

),

-- the clean bars with their factors and whether each is the chosen bar of its (symbol, d), then the
-- bars kept out; columns widest first (8-byte, 4-byte, booleans, text) so no row pays alignment padding
processed as (

    select
        open,
        high,
        low,
        close,
        adj_close,
        volume,
        loaded_at,
        adj_factor,
        split_factor,
        d,
        dup_seq,
        source_priority,
        is_structurally_clean,
        is_clean,
        row_number() over (partition by symbol, d order by source_priority, source) = 1 as is_chosen,
        source,
        symbol,
        reasons,
        unreadable,
        -- where a quarantined bar came from (bars_quarantine shows it); a clean bar's is in the raw table
        null::text as source_ref

    from adjusted

    union all

    select
        open,
        high,
        low,
        close,
        adj_close,
        volume,
        loaded_at,
        null::double precision as adj_factor,
        null::double precision as split_factor,
        d,
        dup_seq,
        source_priority,
        is_structurally_clean,
        is_clean,
        false as is_chosen,
        source,
        symbol,
        reasons,
        unreadable,
        source_ref

    from validated
    where not is_clean

),

final as (

    select
        processed.open,
        processed.high,
        processed.low,
        processed.close,
        processed.adj_close,
        processed.volume,
        processed.loaded_at,
        processed.adj_factor,
        processed.split_factor,
        coalesce(actions_fingerprints.actions_fingerprint, 0) as actions_fingerprint,
        '{{ run_started_at }}'::timestamptz as computed_at,
        processed.d,
        processed.dup_seq,
        processed.source_priority,
        {% if is_incremental() %}
        scope.write_from as rewrite_from,
        {% else %}
        '-infinity'::date as rewrite_from,
        {% endif %}
        processed.is_structurally_clean,
        processed.is_clean,
        processed.is_chosen,
        processed.source,
        processed.symbol,
        processed.reasons,
        processed.unreadable,
        processed.source_ref

    from processed
    left join actions_fingerprints
        on processed.symbol = actions_fingerprints.symbol
    {% if is_incremental() %}
    inner join scope
        on processed.symbol = scope.symbol
    where processed.d >= scope.write_from
    {% endif %}

)

select * from final
