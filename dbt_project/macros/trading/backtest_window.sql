{#
    The window of a backtest, given at run time by `make backtest` (rapidtrader/jobs/backtest.py) in the
    environment variables RT_BACKTEST_START and RT_BACKTEST_END ('YYYY-MM-DD'; an empty end = the newest
    bars). They are environment variables read only by the backtest models, not dbt vars: dbt parses the
    whole project again whenever a var changes (about 3 s), while a changed environment variable makes it
    re-parse only the files that read it, so a backtest after a nightly build (or with a new window) reuses
    the nightly's parse.
#}
{% macro rt_backtest_start() -%}
    {{ return(env_var('RT_BACKTEST_START', '') | trim) }}
{%- endmacro %}


{% macro rt_backtest_end() -%}
    {{ return(env_var('RT_BACKTEST_END', '') | trim) }}
{%- endmacro %}


{#- The backtest models exist only when a window is given, so the nightly build never builds them. -#}
{% macro rt_backtest_enabled() -%}
    {{ return(rt_backtest_start() | length > 0) }}
{%- endmacro %}
