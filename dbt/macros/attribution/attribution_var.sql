{#-
    The value of a numeric attribution var, refusing values the rules cannot use:
    a half-life of 0 would divide by zero, a negative lookback would empty every
    path. Fails compilation with a message naming the var, instead of wrong numbers.
-#}
{% macro attribution_var(name, minimum, inclusive=true) %}
    {%- set value = var(name) -%}
    {%- if value is not number
            or (inclusive and value < minimum)
            or (not inclusive and value <= minimum) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a number " ~ (">= " if inclusive else "> ")
            ~ minimum ~ ", got " ~ (value | tojson)) }}
    {%- endif -%}
    {{ return(value) }}
{% endmacro %}
