{#
    Comparisons of computed floats against a threshold, decided as exact arithmetic would decide them.
    Two values equal in exact arithmetic can differ by float noise in the last bits (DIS on 2014-11-06:
    SMA20 = SMA100 = 87.665 exactly, stored difference +8.5e-14), so a difference within
    RT_FLOAT_TOLERANCE (1e-9) of the threshold's size counts as equal:
      '>'  a - b >  tol x |b|        '<'  a - b < -tol x |b|
      '>=' a - b >= -tol x |b|       '<=' a - b <= tol x |b|
    Null in, null out (callers coalesce as before).
#}
{% macro rt_float_cmp(a, op, b) -%}
    {%- set tol = (var('rt_float_tolerance') | float) ~ '::double precision' -%}
    {%- if op == '>' -%}
        (({{ a }}) - ({{ b }}) > {{ tol }} * abs({{ b }}))
    {%- elif op == '<' -%}
        (({{ a }}) - ({{ b }}) < -{{ tol }} * abs({{ b }}))
    {%- elif op == '>=' -%}
        (({{ a }}) - ({{ b }}) >= -{{ tol }} * abs({{ b }}))
    {%- elif op == '<=' -%}
        (({{ a }}) - ({{ b }}) <= {{ tol }} * abs({{ b }}))
    {%- else -%}
        {{ exceptions.raise_compiler_error("rt_float_cmp: unknown operator " ~ op) }}
    {%- endif -%}
{%- endmacro %}
