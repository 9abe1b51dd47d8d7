{#
    The COMBINED signals of the signal sets that one shard of the sweep's ledger pass trades (its runs:
    int_sweep_runs.ledger_shard = `shard`), decided inside the pass (the shard's call of the ledger function
    reads its view, int_sweep_signals_shard_<shard>, once when it starts) by the nightly rules
    (macros/analytics/signal_rules.sql) with each set's settings, over (signal set, symbol) series: the
    sweep window's indicator rows of every equity plus, per symbol, the rows just before the window that
    the confirmation and crossover counts look back on. Same columns as signals_daily's COMBINED rows, plus
    signal_set. A set that no run of the shard trades is not decided: the runs go to the shards in
    signal-set order, so two shards each decide about half of the sets.
#}
{% macro sweep_signals_shard(shard) %}
{{ config(materialized='view') }}
{%- set windows = var('rt_sma_windows').split(',') %}
{%- set rules = {
    'rsi_buy': 'rt_rsi_buy',
    'rsi_sell': 'rt_rsi_sell',
    'confirm_on': 'confirm_on',
    'confirm_window': 'rt_confirm_window',
    'confirm_min': 'rt_confirm_min_count',
    'sma_days': 'rt_sma_confirm_days',
} %}

with

runs as (

    select * from {{ ref('int_sweep_runs') }}
    where ledger_shard = {{ shard }}

),

signal_sets as (

    select distinct
        signal_set,
        rt_rsi_buy,
        rt_rsi_sell,
        confirm_on,
        rt_confirm_window,
        rt_confirm_min_count,
        rt_sma_fast,
        rt_sma_slow,
        rt_sma_confirm_days

    from runs

),

sweep_window as (

    select
        min(start_d) as start_d,
        coalesce(max(end_d), 'infinity'::date) as end_d,
        max(greatest(rt_confirm_window, rt_sma_confirm_days)) - 1 as look_back_rows

    from runs

),

-- not materialized: the filters below must reach the indexes of indicators_daily (d; symbol, d)
indicators as not materialized (

    select
        symbol,
        d,
        adj_close,
        rsi_14,
        atr_14,
        {%- for n in windows %}
        sma_{{ n }},
        {%- endfor %}
        symbol in (select market_symbols.symbol from {{ ref('market_symbols') }} as market_symbols) as is_market_etf

    from {{ ref('indicators_daily') }}

),

in_window as (

    select indicators.*

    from indicators
    cross join sweep_window
    where
        indicators.d >= sweep_window.start_d
        and indicators.d <= sweep_window.end_d
        and not indicators.is_market_etf

),

first_days as (

    select
        symbol,
        min(d) as first_d

    from in_window
    group by symbol

),

look_back as (

    select earlier.*

    from first_days
    cross join lateral (
        select indicators.*

        from indicators
        where indicators.symbol = first_days.symbol and indicators.d < first_days.first_d
        order by indicators.d desc
        limit (select sweep_window.look_back_rows from sweep_window)
    ) as earlier

),

equity_rows as (

    select
        *,
        true as is_new

    from in_window

    union all

    select
        *,
        false as is_new

    from look_back

),

per_set as (

    select
        signal_sets.signal_set,
        signal_sets.rt_rsi_buy,
        signal_sets.rt_rsi_sell,
        signal_sets.confirm_on,
        signal_sets.rt_confirm_window,
        signal_sets.rt_confirm_min_count,
        signal_sets.rt_sma_confirm_days,
        equity_rows.symbol,
        equity_rows.d,
        equity_rows.adj_close,
        equity_rows.rsi_14,
        equity_rows.atr_14,
        case signal_sets.rt_sma_fast
            {%- for n in windows %}
            when {{ n }} then equity_rows.sma_{{ n }}
            {%- endfor %}
        end as sma_fast,
        case signal_sets.rt_sma_slow
            {%- for n in windows %}
            when {{ n }} then equity_rows.sma_{{ n }}
            {%- endfor %}
        end as sma_slow,
        equity_rows.is_new

    from equity_rows
    cross join signal_sets

),

{{ rt_signal_rule_ctes('per_set', 'signal_set, symbol', rules) }},

final as (

    select
        signal_set,
        d,
        symbol,
        'COMBINED' as strategy,
        combined_direction as direction,
        combined_strength as strength,
        adj_close as close,
        atr_14

    from combined_signals
    where is_new

)

select * from final
{% endmacro %}
