{#-
    The measure columns of one branch of a stacked (union all, then sum) report:
    every name in `measures` in that order, as the SQL expression `given` has for
    it, else 0. Keeps the branches' columns aligned however many measures exist.
-#}
{% macro stack_measures(measures, given) -%}
    {%- for measure in measures %}
        {{ given.get(measure, '0') }} as {{ measure }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
