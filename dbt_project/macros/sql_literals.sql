{#
    Settings reach SQL as literals, never as pasted text: a value with a quote in it stays one string
    (RT_MARKET_FILTER_SYMBOL="SPY' or 1=1 or symbol='" is looked up as that odd ticker and matches
    nothing). rapidtrader.settings validates the values first; these are the second line.
#}

{#- A SQL string literal of `value` (quotes doubled). -#}
{% macro rt_literal(value) -%}
    '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}


{#- A date literal of a 'YYYY-MM-DD' value, or null::date for an empty one; anything else fails compilation. -#}
{% macro rt_date_literal(value) -%}
    {%- set text = (value or '') | string | trim -%}
    {%- if text == '' -%}
        null::date
    {%- elif modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) -%}
        '{{ text }}'::date
    {%- else -%}
        {{ exceptions.raise_compiler_error("not a date YYYY-MM-DD: " ~ text) }}
    {%- endif -%}
{%- endmacro %}
