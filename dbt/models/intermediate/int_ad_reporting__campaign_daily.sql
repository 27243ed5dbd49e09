-- Spend of every ad platform in Fivetran ad_reporting's campaign report shape, so
-- that anything built for that package (or against it) reads our spend unchanged.
-- The platforms are the `ad_reporting__platforms` var: a new platform is a staging
-- model stg_<platform>__campaign_daily (macros/staging/stage_ad_spend.sql) plus an
-- entry there; nothing here changes.

{%- set columns = [
    'date_day',
    'platform',
    'account_id',
    'campaign_id',
    'campaign_name',
    'clicks',
    'impressions',
    'spend',
    'currency',
] %}

with

campaign_daily as (

    {{ union_platform_models(var('ad_reporting__platforms'), 'campaign_daily', columns) }}

),

final as (

    select
        {{ columns | join(',\n        ') }}

    from campaign_daily

)

select * from final
