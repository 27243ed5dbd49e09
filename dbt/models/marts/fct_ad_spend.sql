-- Ad spend in Fivetran ad_reporting's campaign report shape (date_day, platform,
-- account_id, campaign_id, campaign_name, clicks, impressions, spend, currency),
-- plus the company, channel and UTM values of the e2e_daily row it lands on and
-- how they were found (int_ad_spend__matched).

with

ad_spend as (

    select * from {{ ref('int_ad_spend__matched') }}

),

final as (

    select
        cast(date_day as date) as date_day,
        cast(platform as {{ dbt.type_string() }}) as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(campaign_name as {{ dbt.type_string() }}) as campaign_name,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(spend as numeric(18, 2)) as spend,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(match_method as {{ dbt.type_string() }}) as match_method

    from ad_spend

)

select * from final
