{#-
    The staging model of one ad platform: `stg_<platform>__campaign_daily` is
    `{{ stage_ad_spend('<platform>') }}` over the source `<platform>.ad_spend`
    (raw.ad_spend_<platform>, landed in Fivetran ad_reporting's unified shape), so
    every platform comes out with the same columns and the same cleaning.
-#}
{% macro stage_ad_spend(platform) -%}

with

source as (

    select * from {{ source(platform, 'ad_spend') }}

),

renamed as (

    select

        ---------- ids
        account_id,
        campaign_id,

        ---------- strings
        platform,
        campaign_name,
        currency,
        -- tracking template / final URL suffix: how the platform builds the UTMs
        nullif(trim(url_template), '') as url_template,
        _account as connector_account,

        ---------- numerics
        clicks,
        impressions,
        spend,

        ---------- timestamps
        date_day,
        _loaded_at as loaded_at

    from source

)

select * from renamed

{%- endmacro %}
