{#-
    The ad platform's campaign id carried in utm_campaign, or null.

    Yandex.Direct's {campaign_id} and Google Ads' {campaignid} URL parameters write
    the bare numeric id; hand-made tags often append it to a name
    ('brand_msk_70112233', 'brand|70112233'). So: the whole value when it is digits,
    else a run of 5 or more digits after the last '_', '-' or '|'. A name without
    such a suffix gives null, and spend then joins on the campaign name instead.

    Regular expressions differ between engines, hence the dispatch.
-#}
{% macro parse_campaign_id(utm_campaign) -%}
    {{ return(adapter.dispatch('parse_campaign_id')(utm_campaign)) }}
{%- endmacro %}

{% macro default__parse_campaign_id(utm_campaign) -%}
    nullif(regexp_extract(trim({{ utm_campaign }}), '^(?:.*[_|-])?([0-9]{5,})$', 1), '')
{%- endmacro %}

{% macro postgres__parse_campaign_id(utm_campaign) -%}
    substring(trim({{ utm_campaign }}) from '^(?:.*[_|-])?([0-9]{5,})$')
{%- endmacro %}
