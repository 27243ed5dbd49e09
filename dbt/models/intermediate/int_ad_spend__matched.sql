-- Gives each day of campaign spend the company, channel and UTM values that the
-- campaign's visits carry, so cost lands on the same e2e_daily row as its sessions
-- and leads.
--
-- A campaign is recognised in sessions by (platform from utm_source, campaign id
-- parsed from utm_campaign: macros/parse_campaign_id.sql); ids survive renames, so
-- the campaign name is only a fallback. The lookup spans all days: spend on a day
-- without visits still lands on the campaign's usual row. If a campaign's visits
-- carry several UTM combinations, the one with the most sessions takes the whole
-- spend, so spend is never counted twice. Spend nobody visited gets the platform's
-- own tags and no company, and stays visible; it is never dropped.

with

campaign_daily as (

    select * from {{ ref('int_ad_reporting__campaign_daily') }}

),

paid_sessions as (

    select * from {{ ref('int_sessions__channels') }}
    where ad_platform is not null
        and utm_campaign is not null

),

utm_combinations as (

    select
        company_id,
        ad_platform,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        campaign_id,
        count(*) as session_count

    from paid_sessions
    group by 1, 2, 3, 4, 5, 6, 7

),

campaign_names as (

    select distinct
        platform,
        account_id,
        campaign_id,
        campaign_name

    from campaign_daily

),

candidates as (

    select
        campaign_names.platform,
        campaign_names.account_id,
        campaign_names.campaign_id,
        utm_combinations.company_id,
        utm_combinations.channel,
        utm_combinations.utm_source,
        utm_combinations.utm_medium,
        utm_combinations.utm_campaign,
        utm_combinations.session_count,
        case
            when utm_combinations.campaign_id = campaign_names.campaign_id then 1
            else 2
        end as match_priority

    from campaign_names
    inner join utm_combinations
        on campaign_names.platform = utm_combinations.ad_platform
        and (
            utm_combinations.campaign_id = campaign_names.campaign_id
            or lower(utm_combinations.utm_campaign) = lower(campaign_names.campaign_name)
        )

),

ranked as (

    select
        *,
        row_number() over (
            partition by platform, account_id, campaign_id
            order by
                match_priority,
                session_count desc,
                company_id,
                utm_source,
                utm_medium,
                utm_campaign
        ) as candidate_rank

    from candidates

),

campaign_utms as (

    select * from ranked
    where candidate_rank = 1

),

final as (

    select
        campaign_daily.date_day,
        campaign_daily.platform,
        campaign_daily.account_id,
        campaign_daily.campaign_id,
        campaign_daily.campaign_name,
        campaign_utms.company_id,
        coalesce(campaign_utms.channel, 'paid_search') as channel,
        coalesce(
            campaign_utms.utm_source,
            {{ platform_to_utm_source('campaign_daily.platform') }}
        ) as utm_source,
        coalesce(
            campaign_utms.utm_medium,
            '{{ var("unmatched_spend_utm_medium") }}'
        ) as utm_medium,
        coalesce(campaign_utms.utm_campaign, campaign_daily.campaign_id) as utm_campaign,
        case
            when campaign_utms.match_priority = 1 then 'campaign_id'
            when campaign_utms.match_priority = 2 then 'campaign_name'
            else 'unvisited'
        end as match_method,
        campaign_daily.clicks,
        campaign_daily.impressions,
        campaign_daily.spend,
        campaign_daily.currency

    from campaign_daily

    left join campaign_utms
        on campaign_daily.platform = campaign_utms.platform
        and campaign_daily.account_id = campaign_utms.account_id
        and campaign_daily.campaign_id = campaign_utms.campaign_id

)

select * from final
