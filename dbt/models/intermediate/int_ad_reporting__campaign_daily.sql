-- Spend in Fivetran ad_reporting's campaign report shape, so that anything built
-- for that package (or against it) reads our spend unchanged. A new platform is
-- landed into raw.ad_spend in this same shape; nothing here changes.

with

ad_spend as (

    select * from {{ ref('stg_ad_platforms__ad_spend') }}

),

final as (

    select
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        clicks,
        impressions,
        spend,
        currency

    from ad_spend

)

select * from final
