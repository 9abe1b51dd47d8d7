{#
    The bar pipeline's steps, once: raw bars of every source -> one shape with source preference ->
    structural reasons -> isolated spikes -> all reasons -> adjustment factors -> the chosen bar per
    (symbol, d). Each macro emits CTE definitions (comma-separated, no WITH) that read the CTE named by its
    input and end in a CTE named by its output, so the same SQL runs in two places:
      - the views int_bars_unified, int_bars_checked, int_bars_spikes, int_bars_validated, int_bars_adjusted
        (the whole history; for analysts and the unit tests of each step);
      - the incremental int_bars_processed, over only the symbols whose raw data changed and, for a symbol
        that only gained days, only its recent rows (the `scope` CTE: symbol, context_from).
    Every window is partitioned by (symbol, source) or (symbol, d), so a symbol computed alone gives the
    rows it gives in the whole history; the scope's context rows cover what the windows look back on.
    Every window lists symbol first: the rows of one step's window come out sorted by symbol, so the next
    window only sorts within each symbol (an incremental sort) instead of sorting the history again, and
    each step carries its rows on instead of joining its result back to its input on the bar key.
#}

{#- Every raw bar of every source in one shape, ranked by source preference (RT_PRIMARY_SOURCE first, then
    the other live vendor, then the file source); key_copies counts a key's rows in its source. With a
    `scope` CTE, only its symbols from its context_from on: see rt_bars_scoped_raw_ctes. -#}
{% macro rt_bars_unified_ctes(output, scope=none) %}
{%- set primary = var('rt_primary_source') %}
{%- if scope is not none %}
{{ rt_bars_scoped_raw_ctes(output ~ '_raw', scope) }},
{%- else %}
{{ output }}_raw as (

    {%- for source_name in ['fmp', 'yfinance', 'sample'] %}
    select staged.*
    from {{ ref('stg_' ~ source_name ~ '__bars') }} as staged
    {{ "union all" if not loop.last }}
    {%- endfor %}

),
{%- endif %}

{{ output }} as (

    select
        *,
        case
            when source = {{ rt_literal(primary) }} then 1
            when source in ('fmp', 'yfinance') then 2
            else 3
        end as source_priority,
        count(*) over (partition by symbol, source, d) as key_copies

    from {{ output }}_raw

)
{% endmacro %}


{#- One row per bar with the structural reasons it is malformed, comma-separated ('' = clean), and
    is_clean. Every check compares the float8 values as stored: nothing is cast before a bar is known to be
    in range. Bounds, far outside real trading: BRK.A trades near 1e6 dollars a share, a hundredth of a
    cent is below any quoted price, split-adjusted daily volumes stay well below 1e11 shares. A symbol is
    known when it is on the latest list, a benchmark/sector ETF, or any ticker of a company that is or was
    an index member (int_membership_intervals; int_ticker_companies for the earlier tickers of a company on the
    latest list). -#}
{% macro rt_bars_checked_ctes(input, output) %}
{%- set max_price = 10000000 %}
{%- set min_price = 0.0001 %}
{%- set max_volume = 1000000000000 %}
{{ rt_known_tickers_ctes(output ~ '_universe') }},

{{ output }}_copies as (

    select
        source,
        symbol,
        d,
        -- a row value: two copies count once only when every field matches
        count(distinct (open, high, low, close, adj_close, volume)) as distinct_versions  -- noqa: ST08, LT01, LT06

    from {{ input }}
    where key_copies > 1
    group by source, symbol, d

),

{{ output }}_reasons as (

    select
        bars.*,
        concat_ws(
            ',',
            case
                when bars.open is null or bars.high is null or bars.low is null or bars.close is null
                    then 'missing_price'
            end,
            -- float8 sorts NaN above Infinity, so one comparison finds both
            case
                when
                    greatest(
                        abs(bars.open), abs(bars.high), abs(bars.low), abs(bars.close), abs(bars.adj_close),
                        abs(bars.volume)
                    ) >= 'Infinity'::float8
                    then 'non_finite_number'
            end,
            case
                when
                    greatest(bars.open, bars.high, bars.low, bars.close, bars.adj_close)
                    > {{ max_price }}::float8
                    or least(bars.open, bars.high, bars.low, bars.close, bars.adj_close) > 0::float8
                    and least(bars.open, bars.high, bars.low, bars.close, bars.adj_close)
                    < {{ min_price }}::float8
                    then 'price_out_of_range'
            end,
            case
                when
                    bars.open <= 0 or bars.high <= 0 or bars.low <= 0 or bars.close <= 0
                    or bars.adj_close <= 0
                    then 'non_positive_price'
            end,
            case when bars.volume is null then 'missing_volume' end,
            case when bars.unreadable is not null then 'not_a_number' end,
            case when bars.volume < 0 then 'negative_volume' end,
            case when bars.volume > {{ max_volume }}::float8 then 'volume_out_of_range' end,
            case when bars.high < bars.low then 'high_below_low' end,
            case when bars.open > bars.high or bars.open < bars.low then 'open_outside_range' end,
            case when bars.close > bars.high or bars.close < bars.low then 'close_outside_range' end,
            case when copies.distinct_versions = 1 and bars.dup_seq > 0 then 'duplicate_key' end,
            case when copies.distinct_versions > 1 then 'duplicate_key_conflict' end,
            case when bars.d > (now() at time zone 'America/New_York')::date then 'future_date' end,
            -- a lookup in the hashed list, not a join: a join's row estimate on this CTE (hundreds of times
            -- the real rows) made every later step of a full build sort on disk
            case
                when not coalesce(bars.symbol in (select universe.symbol from {{ output }}_universe as universe), false)
                    then 'symbol_not_in_universe'
            end
        ) as reasons

    from {{ input }} as bars
    left join {{ output }}_copies as copies
        on
            bars.source = copies.source
            and bars.symbol = copies.symbol
            and bars.d = copies.d

),

{{ output }} as (

    select
        *,
        reasons = '' as is_clean

    from {{ output }}_reasons

)
{% endmacro %}


{#- The known tickers (output: symbol): the latest constituent list, the benchmark/sector ETFs, and every
    ticker of a company that is or was an index member. A bar of any other symbol is quarantined as
    symbol_not_in_universe. -#}
{% macro rt_known_tickers_ctes(output) %}
{{ output }}_latest_list as (

    select symbol from {{ ref('int_universe') }}

),

{{ output }}_member_companies as (

    select companies.company_symbol
    from {{ ref('int_ticker_companies') }} as companies
    inner join {{ ref('int_membership_intervals') }} as intervals
        on companies.symbol = intervals.symbol

    union

    select companies.company_symbol
    from {{ ref('int_ticker_companies') }} as companies
    inner join {{ output }}_latest_list as latest_list
        on companies.symbol = latest_list.symbol

),

{{ output }} as (

    select symbol from {{ output }}_latest_list

    union

    select symbol from {{ ref('market_symbols') }}

    union

    select companies.symbol
    from {{ ref('int_ticker_companies') }} as companies
    inner join {{ output }}_member_companies as member_companies
        on companies.company_symbol = member_companies.company_symbol

)
{% endmacro %}


{#- The columns every bar carries from int_bars_validated on (the validated and adjusted steps list them). -#}
{% macro rt_validated_bar_columns() -%}
    {{ return([
        'source', 'symbol', 'd', 'dup_seq', 'open', 'high', 'low', 'close', 'adj_close', 'volume', 'unreadable',
        'source_priority', 'source_ref', 'loaded_at', 'is_structurally_clean', 'reasons', 'is_clean',
    ]) }}
{%- endmacro %}


{#- Isolated bad prints: a structurally clean close that jumps more than RT_SPIKE_PCT (25%) away from the
    previous clean close while the next clean close is back within RT_SPIKE_REVERT_PCT (5%) of the previous
    one. A real move (earnings gap, split) does not revert the next day; a bad print (LNT 2016-05-19, NWL
    2017-09-14 in the sample) does. The newest bar of a symbol has no next bar and is never flagged (it is
    decided again when the next day arrives). Output: every structurally clean bar of `input`, all its
    columns, with is_spike. -#}
{% macro rt_bars_spike_flags_ctes(input, output) %}
{{ output }}_neighbours as (

    select
        *,
        lag(close) over by_symbol as prev_close,
        lead(close) over by_symbol as next_close

    from {{ input }}
    where is_clean

    window by_symbol as (partition by symbol, source order by d)

),

{{ output }} as (

    select
        *,
        coalesce(
            prev_close > 0
            and next_close > 0
            and {{ rt_float_cmp('abs(close / prev_close - 1)', '>', var('rt_spike_pct') | float) }}
            and {{ rt_float_cmp('abs(next_close / prev_close - 1)', '<', var('rt_spike_revert_pct') | float) }},
            false
        ) as is_spike

    from {{ output }}_neighbours

)
{% endmacro %}


{#- The isolated bad prints (rt_bars_spike_flags_ctes) as keys. Output: (source, symbol, d, dup_seq). -#}
{% macro rt_bars_spikes_ctes(input, output) %}
{{ rt_bars_spike_flags_ctes(input, output ~ '_flagged') }},

{{ output }} as (

    select
        source,
        symbol,
        d,
        dup_seq

    from {{ output }}_flagged
    where is_spike

)
{% endmacro %}


{#- Every bar of `checked` with all its quarantine reasons: the structural ones plus isolated_price_spike.
    A structurally clean bar comes with its spike decision (rt_bars_spike_flags_ctes), a malformed one
    straight from `checked`: nothing is joined back on the bar key. -#}
{% macro rt_bars_validated_ctes(checked, output) %}
{%- set carried = rt_validated_bar_columns() | reject('in', ['is_structurally_clean', 'reasons', 'is_clean']) | list %}
{{ rt_bars_spike_flags_ctes(checked, output ~ '_spike_flags') }},

{{ output }} as (

    select
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        true as is_structurally_clean,
        case when is_spike then 'isolated_price_spike' else '' end as reasons,
        not is_spike as is_clean

    from {{ output }}_spike_flags

    union all

    select
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        false as is_structurally_clean,
        reasons,
        false as is_clean

    from {{ checked }}
    where not is_clean

)
{% endmacro %}


{#- Adjustment factors of the clean bars. adj_factor: multiply a price by it to get the split- and
    dividend-adjusted price; the vendor's adj_close / close when it sends an adjusted close, else built
    from the source's dividend events (Yahoo's method: every price before an ex-date times 1 - dividend /
    previous close), else 1; 1 on a symbol's newest bar. split_factor: shares one share of that day became
    through later splits (informational: vendors send split-adjusted prices). An event on day e applies to
    bars before e only. With a `scope` CTE, only its symbols' events from its context_from on (a bar's
    factors depend on later events only). The bars ride through the event stream with all their columns
    (rt_validated_bar_columns), so they are not joined back. Output: the clean bars with vendor_adj_close,
    adj_factor and split_factor. -#}
{% macro rt_bars_adjusted_ctes(input, output, scope=none) %}
{%- set bar_columns = rt_validated_bar_columns() %}
{{ output }}_actions as (

    select actions.*
    from {{ ref('int_corporate_actions') }} as actions
    {%- if scope is not none %}
    inner join {{ scope }} as scope
        on actions.symbol = scope.symbol and actions.d >= scope.context_from
    {%- endif %}

),

{{ output }}_stream as (

    select
        {%- for column in bar_columns %}
        {{ column }},
        {%- endfor %}
        1 as kind,
        null::double precision as dividend,
        0::double precision as ln_split

    from {{ input }}
    where is_clean

    union all

    select
        {%- for column in bar_columns %}
        {{ column if column in ['source', 'symbol', 'd'] else 'null' }},
        {%- endfor %}
        0 as kind,
        value as dividend,
        0 as ln_split

    from {{ output }}_actions
    where action = 'dividend' and value > 0

    union all

    select
        {%- for column in bar_columns %}
        {{ column if column in ['source', 'symbol', 'd'] else 'null' }},
        {%- endfor %}
        0 as kind,
        null as dividend,
        ln(value) as ln_split

    from {{ output }}_actions
    where action = 'split' and value > 0

),

{{ output }}_event_multipliers as (

    select
        *,
        -- events sort before the bar of their own date, so lag() is the close of the bar before
        case
            when dividend is not null
                then ln(greatest(1 - dividend / nullif(lag(close) over by_date, 0), 1e-9))
            else 0
        end as ln_dividend

    from {{ output }}_stream

    window by_date as (partition by symbol, source order by d, kind)

),

{{ output }}_factored as (

    select
        *,
        coalesce(sum(ln_dividend) over later_first, 0) as ln_dividend_factor,
        coalesce(sum(ln_split) over later_first, 0) as ln_split_factor

    from {{ output }}_event_multipliers

    -- descending: a bar sorts before an event of its own date, so only later events are summed
    window later_first as (
        partition by symbol, source order by d desc, kind desc
        rows between unbounded preceding and current row
    )

),

{{ output }} as (

    select
        {%- for column in bar_columns %}
        {{ column }},
        {%- endfor %}
        adj_close as vendor_adj_close,
        case
            when adj_close is not null then adj_close / close
            else exp(ln_dividend_factor)
        end as adj_factor,
        exp(ln_split_factor) as split_factor

    from {{ output }}_factored
    where kind = 1

)
{% endmacro %}


{#- The raw rows of the `scope` CTE's symbols from each one's context_from on (output: the staged rows).
    Staging normalizes the symbol (upper(trim(symbol))), so a join on it cannot use the raw tables' key
    index, and a plain join read and sorted all of raw every night (2.5M rows, 4.5 s at 20 years). Instead,
    per source:
      - the symbols recomputed from a recent day (mode 'tail') read the source's rows of each calendar day
        from the earliest of their context days to the newest of their raw days (read_until): one probe of
        the raw index on d per day, when that is at most `max_days` days;
      - the symbols recomputed in full, and every symbol when the tail spans more than `max_days` days, are
        joined to the whole staged table as before. That join is under a condition that does not depend on
        a row (`needs_scan`), so on a night without them it is not run at all.
    The two parts are disjoint and together are exactly the rows the plain join gives. -#}
{% macro rt_bars_scoped_raw_ctes(output, scope, max_days=100) %}
{{ output }}_plan as materialized (

    select
        min(context_from) filter (where mode = 'tail') as from_d,
        max(read_until) filter (where mode = 'tail') as until_d,
        coalesce(
            max(read_until) filter (where mode = 'tail') - min(context_from) filter (where mode = 'tail'), 0
        ) <= {{ max_days }} as probe_days,
        bool_or(mode = 'full')
        or coalesce(
            max(read_until) filter (where mode = 'tail') - min(context_from) filter (where mode = 'tail'), 0
        ) > {{ max_days }} as needs_scan

    from {{ scope }}

),

{{ output }}_days as materialized (

    select days.d::date as d
    from {{ output }}_plan as plan
    cross join generate_series(plan.from_d, plan.until_d, interval '1 day') as days (d)
    where plan.probe_days

),

{{ output }} as (

    {%- for source_name in ['fmp', 'yfinance', 'sample'] %}
    {%- set staged_relation = ref('stg_' ~ source_name ~ '__bars') %}
    select staged.*
    from {{ output }}_days as days
    cross join lateral (
        select day_rows.*
        from {{ staged_relation }} as day_rows
        where day_rows.d = days.d
        offset 0  -- one probe of the raw index on d per day (the planner would otherwise join on symbol)
    ) as staged
    inner join {{ scope }} as scope
        on staged.symbol = scope.symbol and staged.d >= scope.context_from
    where scope.mode = 'tail'

    union all

    select staged.*
    from {{ staged_relation }} as staged
    inner join {{ scope }} as scope
        on staged.symbol = scope.symbol and staged.d >= scope.context_from
    where
        (select plan.needs_scan from {{ output }}_plan as plan)
        and (scope.mode = 'full' or not (select plan.probe_days from {{ output }}_plan as plan))
    {{ "union all" if not loop.last }}
    {%- endfor %}

)
{%- endmacro %}
