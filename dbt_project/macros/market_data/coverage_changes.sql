{#
    Which days the incremental build of universe_coverage_daily recomputes. A day's coverage depends on the
    trading calendar, the index membership intervals, the ticker-to-company map and that day's chosen bars.
    The table's comment records, on its last line, a fingerprint of the first three and how far the bars
    it has seen were computed (the newest computed_at of int_bars_processed):
        coverage inputs: <md5> bars computed through <timestamptz>
    A build recomputes
      - every day, when the fingerprint changed or none is recorded (a first build, an upgrade);
      - else every day from the earliest rewrite_from of the bar rows computed since then (int_bars_processed
        rewrites a symbol from that day on and deletes what it no longer has from there, so no bar of an
        earlier day changed), and the days after the newest stored one.
    The pre-hook puts that first day in the transaction-local setting rapidtrader.coverage_from and deletes
    the stored days from it on; the model computes those days; the post-hook records the inputs. A night
    reads the bars of the days it recomputes and the bar rows written that night (index on computed_at).
      rt_coverage_inputs_fingerprint()            the fingerprint, a SQL expression
      rt_coverage_recompute_from(relation)        pre-hook (incremental builds)
      rt_record_coverage_inputs(relation)         post-hook (every build)
#}

{% macro rt_coverage_inputs_fingerprint() -%}
(
    select md5(concat_ws(
        '|',
        (
            select string_agg(
                concat_ws(',', intervals.company_symbol, intervals.added_d, coalesce(intervals.removed_d::text, '')),
                ';' order by intervals.company_symbol, intervals.added_d, intervals.removed_d
            )
            from (
                select distinct company_symbol, added_d, removed_d from {{ ref('universe_membership') }}
            ) as intervals
        ),
        (
            select string_agg(
                concat_ws(',', companies.symbol, companies.company_symbol),
                ';' order by companies.symbol, companies.company_symbol
            )
            from {{ ref('int_ticker_companies') }} as companies
        ),
        (
            select string_agg(calendar.d::text, ',' order by calendar.d)
            from {{ ref('trading_calendar') }} as calendar
            where calendar.is_session
        )
    ))
)
{%- endmacro %}


{#- The recorded inputs line of `relation`'s comment: (fingerprint, bars computed through), or nulls. -#}
{% macro rt_recorded_coverage_inputs(relation) -%}
    regexp_match(
        coalesce(obj_description({{ rt_literal(relation) }}::regclass, 'pg_class'), ''),
        'coverage inputs: ([0-9a-f]{32}) bars computed through ([^\n]+)\s*$'
    )
{%- endmacro %}


{% macro rt_coverage_recompute_from(relation) -%}
{%- if is_incremental() -%}
select set_config(
    'rapidtrader.coverage_from',
    (
        select
            case
                when recorded.inputs is null or recorded.inputs[1] is distinct from {{ rt_coverage_inputs_fingerprint() }}
                    then '-infinity'::date
                else coalesce(
                    least(
                        (
                            select min(bars.rewrite_from) from {{ ref('int_bars_processed') }} as bars
                            where bars.computed_at > recorded.inputs[2]::timestamptz
                        ),
                        (select max(stored.d) + 1 from {{ relation }} as stored)
                    ),
                    '-infinity'::date
                )
            end
        from (select {{ rt_recorded_coverage_inputs(relation) }} as inputs) as recorded
    )::text,
    true
);
delete from {{ relation }} where d >= current_setting('rapidtrader.coverage_from')::date
{%- endif -%}
{%- endmacro %}


{% macro rt_record_coverage_inputs(relation) -%}
do $rt$
begin
    {{ rt_comment_record_statement(
        relation,
        'coverage inputs: [^\\n]*',
        "'coverage inputs: ' || " ~ rt_coverage_inputs_fingerprint() ~ " || ' bars computed through ' || "
        ~ "coalesce((select max(bars.computed_at) from " ~ ref('int_bars_processed') ~ " as bars), '-infinity')::text"
    ) }}
end
$rt$
{%- endmacro %}
