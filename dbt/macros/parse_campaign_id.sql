{#-
    The ad platform's campaign id carried in utm_campaign, or null.

    Yandex.Direct's {campaign_id} and Google Ads' {campaignid} URL parameters write
    the bare numeric id; hand-made tags often append it to a name
    ('brand_msk_70112233', 'brand|70112233'). So: the whole value when it is all
    digits, else a run of 5 or more digits after a final '_', '-' or '|'. A name
    without such a suffix gives null, and spend then joins on the campaign name.

    Regular expressions differ between engines, hence the dispatch.
-#}
{% macro parse_campaign_id(utm_campaign) -%}
    {{ return(adapter.dispatch('parse_campaign_id')(utm_campaign)) }}
{%- endmacro %}

{% macro default__parse_campaign_id(utm_campaign) -%}
    {%- set value = "trim(" ~ utm_campaign ~ ")" -%}
    case
        when regexp_full_match({{ value }}, '[0-9]+') then {{ value }}
        else nullif(regexp_extract({{ value }}, '[_|-]([0-9]{5,})$', 1), '')
    end
{%- endmacro %}

{% macro postgres__parse_campaign_id(utm_campaign) -%}
    {%- set value = "trim(" ~ utm_campaign ~ ")" -%}
    case
        when {{ value }} ~ '^[0-9]+$' then {{ value }}
        else substring({{ value }} from '[_|-]([0-9]{5,})$')
    end
{%- endmacro %}
