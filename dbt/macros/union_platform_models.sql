{#-
    Stack the staging models `stg_<platform>__<suffix>` of every platform in
    `platforms` (a var such as `ad_reporting__platforms`) with union all. Adding a
    platform is a staging model plus an entry in that var; no SQL changes here.
    Columns are named rather than `*`, so a staging model with extra or reordered
    columns can never shift values into the wrong column.
-#}
{% macro union_platform_models(platforms, suffix, columns) -%}
    {%- if platforms | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "union_platform_models: no platforms listed for stg_<platform>__" ~ suffix) }}
    {%- endif -%}
    {%- for platform in platforms %}
    select
        {{ columns | join(',\n        ') }}
    from {{ ref('stg_' ~ platform ~ '__' ~ suffix) }}
    {%- if not loop.last %}

    union all
    {% endif -%}
    {%- endfor %}
{%- endmacro %}
