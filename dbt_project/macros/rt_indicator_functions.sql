{#
    Wilder smoothing for RSI 14 and ATR 14, exactly as TA-Lib computes it, as a plpgsql aggregate used
    as a window function (no C extension: the embedded server and users' servers have no compiler).

    udf.rt_wilder_v1(gain, loss, true_range, n, seed) over (partition by symbol order by d)
    returns float8[] {k, avg_gain, avg_loss, atr}: k = number of (gain, loss, true range) inputs seen;
    while k < n the slots hold running sums; at k = n they become the simple means (TA-Lib's seed);
    after that each input steps avg = (avg * (n - 1) + x) / n, the same float8 operations in the same
    order as TA-Lib's C code, so the results are bit-identical to it. A row with a non-null `seed`
    replaces the state with it: the incremental build carries the stored state of a symbol's last row
    forward instead of re-reading its history.

    Measured (625,890 bars of the sample, Postgres 15, 2 cores): this aggregate 1.4 s for all three
    series; a recursive CTE stepping all symbols one bar at a time over an indexed table 3.1-3.3 s; both
    bit-identical. See tests/indicators/README.md for the full comparison.

    Called from on-run-start; the name carries a version so a changed algorithm gets a new name instead
    of a `create or replace` racing another dbt process on the same database.
#}
{% macro rt_create_indicator_functions() %}
create schema if not exists udf;
do $rt$
begin
    if to_regprocedure('udf.rt_wilder_step_v1(double precision[], double precision, double precision, double precision, integer, double precision[])') is null then
        create function udf.rt_wilder_step_v1(
            state double precision[],
            gain double precision,
            loss double precision,
            true_range double precision,
            n integer,
            seed double precision[]
        ) returns double precision[]
        language plpgsql immutable parallel safe as $fn$
        declare
            k double precision;
        begin
            if seed is not null then
                return seed;
            end if;
            if gain is null or loss is null or true_range is null then
                return state;
            end if;
            k := state[1] + 1;
            if k < n then
                return array[k, state[2] + gain, state[3] + loss, state[4] + true_range];
            elsif k = n then
                return array[k, (state[2] + gain) / n, (state[3] + loss) / n, (state[4] + true_range) / n];
            end if;
            return array[
                k,
                (state[2] * (n - 1) + gain) / n,
                (state[3] * (n - 1) + loss) / n,
                (state[4] * (n - 1) + true_range) / n
            ];
        end
        $fn$;
        comment on function udf.rt_wilder_step_v1(double precision[], double precision, double precision, double precision, integer, double precision[])
            is 'RapidTrader: one step of TA-Lib''s Wilder smoothing (RSI gains/losses, ATR); see macros/rt_indicator_functions.sql';
    end if;
    if to_regprocedure('udf.rt_wilder_v1(double precision, double precision, double precision, integer, double precision[])') is null then
        create aggregate udf.rt_wilder_v1(double precision, double precision, double precision, integer, double precision[]) (
            sfunc = udf.rt_wilder_step_v1,
            stype = double precision[],
            initcond = '{0,0,0,0}'
        );
    end if;
exception
    -- another dbt process created them between the check and the create: theirs are identical
    when duplicate_function or unique_violation then null;
end
$rt$;
{% endmacro %}


{#- The SMA windows indicators_daily holds (rapidtrader.settings.SMA_WINDOWS, passed as rt_sma_windows). -#}
{% macro rt_sma_windows() -%}
    {%- set windows = [] -%}
    {%- for n in (var('rt_sma_windows') | string).split(',') -%}
        {%- do windows.append(n | int) -%}
    {%- endfor -%}
    {{ return(windows) }}
{%- endmacro %}


{#-
    SMA n of every window, from a running sum: (cumsum - the cumsum n rows back) / n, null until n rows
    exist. One expression for every window instead of a case block per window.
-#}
{% macro rt_sma_columns(windows, cumsum, row_number, by_symbol) -%}
    {%- for n in windows -%}
        case
            when {{ row_number }} >= {{ n }}
                then ({{ cumsum }} - coalesce(lag({{ cumsum }}, {{ n }}) over {{ by_symbol }}, 0)) / {{ n }}
        end as sma_{{ n }}{{ ",\n        " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#- The column holding SMA n of adj_close in indicators_daily; fails compilation for other windows. -#}
{% macro rt_sma_column(n) -%}
    {%- set n = n | int -%}
    {%- if n not in rt_sma_windows() -%}
        {{ exceptions.raise_compiler_error("SMA window " ~ n ~ " is not computed: indicators_daily has sma_" ~ rt_sma_windows() | join(", sma_")) }}
    {%- endif -%}
    sma_{{ n }}
{%- endmacro %}



{#-
    Post-hook: ANALYZE a table that has never been analyzed (a full refresh creates a new one). Right
    after a rebuild Postgres has no statistics and picks sequential scans and nested loops over the
    whole history (measured: a 1-day incremental build of signals_daily took 22 s instead of 1 s).
    Nightly appends keep the statistics they have (ANALYZE of signals_daily costs about 1 s).
-#}
{% macro rt_analyze_if_never(relation) -%}
do $rt$
begin
    if exists (
        select 1 from pg_stat_user_tables
        where relid = '{{ relation }}'::regclass and last_analyze is null and last_autoanalyze is null
    ) then
        analyze {{ relation }};
    end if;
end
$rt$
{%- endmacro %}


{#-
    The newest value of `batch_column` in `model` as a SQL literal (looked up when the test runs), so a
    filter on the latest run's rows is planned with its real, small row count; see
    tests/generic/expect_latest_batch.sql.
-#}
{#-
    The rows a batch-scoped test checks: those the latest build wrote (`batch_column` equal to its newest
    value, inlined as a literal), or every row with RT_TEST_FULL_HISTORY=1 (`make test-dq-full`).
-#}
{% macro rt_latest_batch_filter(model, batch_column='computed_at') -%}
    {%- if var('rt_test_full_history') | int == 1 -%}
        true
    {%- else -%}
        {{ batch_column }} = {{ rt_latest_batch_literal(model, batch_column) }}
    {%- endif -%}
{%- endmacro %}


{#- The literal has the column's type: computed_at (timestamptz) for most, d (date) for orders_eod. -#}
{% macro rt_latest_batch_literal(model, batch_column) -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select max(" ~ batch_column ~ ")::text, pg_typeof(max(" ~ batch_column ~ "))::text from " ~ model
        ) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {%- set type = result.columns[1].values()[0] -%}
        {%- if latest is none -%}
            {{ return("null::" ~ type) }}
        {%- endif -%}
        {{ return("'" ~ latest ~ "'::" ~ type) }}
    {%- endif -%}
    {{ return("null::timestamptz") }}
{%- endmacro %}
