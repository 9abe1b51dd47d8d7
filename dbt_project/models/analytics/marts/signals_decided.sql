-- The strategy decisions per equity and day, one row: RSI mean reversion (RSI_MR), SMA crossover (SMA_X)
-- and the combined decision, by the rules of macros/analytics/signal_rules.sql. The mart signals_daily
-- shows them as one row per strategy with the indicator values that produced them (read from
-- indicators_daily, not stored twice). Equities = every symbol of indicators_daily that is not a market
-- ETF (seed market_symbols).
-- Incremental: the indicator rows written since this model's last run (indicators_daily.computed_at) are
-- (re)computed, with the rows just before them as the confirmation look-back; the pre-hook first deletes
-- the stored rows they replace (from a symbol's first new day on, or all of it when it was recomputed in
-- full, or when the symbols mart lists it with no bars left). The rule settings it was built with are
-- recorded in the table's comment; when they differ from the current ones, a first pre-hook empties the
-- table and every row is computed again (macros/analytics/rule_settings.sql).
{{
    config(
        materialized='incremental',
        unique_key=['symbol', 'd'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{{ rt_analyze_if_never(this) }}",
            "{{ rt_record_rule_settings(this, rt_signal_rule_settings()) }}",
        ],
        indexes=[
            {'columns': ['symbol', 'd'], 'unique': true},
            {'columns': ['d']},
            {'columns': ['computed_at']},
        ],
        pre_hook=[
            "{{ rt_recompute_if_rules_changed(this, rt_signal_rule_settings()) }}",
            "{% if is_incremental() %}
            with fresh as (
                select
                    symbol,
                    min(d) as first_new_d,
                    min(bar_number) as first_new_bar
                from {{ ref('indicators_daily') }}
                where computed_at > (select coalesce(max(computed_at), '-infinity') from {{ this }})
                group by symbol
            ),

            deleted_tail as (
                delete from {{ this }} as stored
                using fresh
                where stored.symbol = fresh.symbol and stored.d >= fresh.first_new_d
            )
            delete from {{ this }}
            where symbol in (select fresh.symbol from fresh where fresh.first_new_bar = 1);
            delete from {{ this }}
            where symbol in (
                select symbol from {{ ref('symbols') }} where coalesce(n_bars, 0) = 0
            )
        {% endif %}",
        ],
    )
}}
-- depends_on: {{ ref('symbols') }}
{#- the settings recorded in the comment are the ones the rules below use -#}
{%- set settings = rt_signal_rule_settings() %}
{%- set confirm_window = settings.rt_confirm_window %}
{%- set sma_days = settings.rt_sma_confirm_days %}
{%- set lookback = [confirm_window, sma_days] | max - 1 %}
{%- set rules = {
    'rsi_buy': settings.rt_rsi_buy ~ '::double precision',
    'rsi_sell': settings.rt_rsi_sell ~ '::double precision',
    'confirm_on': 'true' if settings.rt_enable_signal_confirm == 1 else 'false',
    'confirm_window': confirm_window,
    'confirm_min': settings.rt_confirm_min_count,
    'sma_days': sma_days,
} %}

with

-- not materialized: the filters below must reach the indexes of indicators_daily (computed_at; symbol, d)
indicators as not materialized (

    select
        symbol,
        d,
        rsi_14,
        {{ rt_sma_column(settings.rt_sma_fast) }} as sma_fast,
        {{ rt_sma_column(settings.rt_sma_slow) }} as sma_slow,
        computed_at

    from {{ ref('indicators_daily') }}

),

market_etfs as (

    select symbol from {{ ref('market_symbols') }}

),

{% if is_incremental() %}

fresh as (

    select indicators.*

    from indicators
    where
        indicators.computed_at > (select coalesce(max(stored.computed_at), '-infinity') from {{ this }} as stored)
        and indicators.symbol not in (select market_etfs.symbol from market_etfs)

),

fresh_starts as (

    select
        symbol,
        min(d) as first_new_d

    from fresh
    group by symbol

),

-- the rows before a symbol's first new day that its confirmation windows look back on
look_back as (

    select earlier.*

    from fresh_starts
    cross join lateral (
        select indicators.*

        from indicators
        where
            indicators.symbol = fresh_starts.symbol
            and indicators.d < fresh_starts.first_new_d
        order by indicators.d desc
        limit {{ lookback }}
    ) as earlier

),

equity_rows as (

    select
        *,
        true as is_new

    from fresh

    union all

    select
        *,
        false as is_new

    from look_back

),

{% else %}

equity_rows as (

    select
        *,
        true as is_new

    from indicators
    where symbol not in (select market_etfs.symbol from market_etfs)

),

{% endif %}

{{ rt_signal_rule_ctes('equity_rows', 'symbol', rules) }},

final as (

    select
        symbol,
        d,
        rsi_raw_buy,
        rsi_confirmed_buy,
        rsi_direction,
        rsi_strength,
        sma_up,
        sma_buy,
        sma_direction,
        sma_strength,
        combined_direction,
        combined_strength,
        deciding_strategy,
        '{{ run_started_at }}'::timestamptz as computed_at

    from combined_signals
    where is_new

)

select * from final
