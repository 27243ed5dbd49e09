{#-
    The utm_source <-> ad platform mapping, both directions, read from the
    `ad_platform_utm_sources` var so that adding a platform touches no SQL.
    Sources that are not ad platforms map to null.
-#}
{% macro to_platform(utm_source) -%}
    case lower({{ utm_source }})
    {%- for source, platform in var('ad_platform_utm_sources').items() %}
        when '{{ source }}' then '{{ platform }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- The utm_source a platform's own links carry: labels spend no session claims. -#}
{% macro platform_to_utm_source(platform) -%}
    case {{ platform }}
    {%- for source, platform_name in var('ad_platform_utm_sources').items() %}
        when '{{ platform_name }}' then '{{ source }}'
    {%- endfor %}
    end
{%- endmacro %}
