{#- numerator / denominator as a double; null (not an error, not infinity) when the
    denominator is 0 or null. -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}
