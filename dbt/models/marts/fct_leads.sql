-- One row per lead (int_leads) with what it bought: its matched CRM deals, the
-- won ones, and their revenue.

with

leads as (

    select * from {{ ref('int_leads') }}

),

matched_deals as (

    select * from {{ ref('int_deals__matched') }}
    where lead_id is not null

),

deal_totals as (

    select
        lead_id,
        count(*) as deals,
        sum(case when is_won then 1 else 0 end) as won_deals,
        sum(case when is_won then amount else 0 end) as revenue

    from matched_deals
    group by 1

),

final as (

    select
        cast(leads.lead_id as {{ dbt.type_string() }}) as lead_id,
        cast(leads.company_id as {{ dbt.type_string() }}) as company_id,
        cast(leads.lead_date as date) as lead_date,
        cast(leads.lead_created_at as {{ dbt.type_timestamp() }}) as lead_created_at,
        cast(leads.last_touch_at as {{ dbt.type_timestamp() }}) as last_touch_at,
        cast(leads.first_touch_kind as {{ dbt.type_string() }}) as first_touch_kind,
        cast(leads.first_touch_ref as {{ dbt.type_string() }}) as first_touch_ref,
        cast(leads.phone as {{ dbt.type_string() }}) as phone,
        cast(leads.email as {{ dbt.type_string() }}) as email,
        cast(leads.session_id as {{ dbt.type_string() }}) as session_id,
        cast(leads.visitor_id as {{ dbt.type_string() }}) as visitor_id,
        cast(leads.channel as {{ dbt.type_string() }}) as channel,
        cast(leads.utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(leads.utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(leads.utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(leads.campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(leads.ad_platform as {{ dbt.type_string() }}) as ad_platform,
        leads.is_first_call_missed,
        cast(leads.touch_count as {{ dbt.type_bigint() }}) as touch_count,
        cast(leads.call_count as {{ dbt.type_bigint() }}) as call_count,
        cast(leads.answered_call_count as {{ dbt.type_bigint() }}) as answered_call_count,
        cast(leads.form_count as {{ dbt.type_bigint() }}) as form_count,
        cast(leads.callback_count as {{ dbt.type_bigint() }}) as callback_count,
        cast(coalesce(deal_totals.deals, 0) as {{ dbt.type_bigint() }}) as deals,
        cast(coalesce(deal_totals.won_deals, 0) as {{ dbt.type_bigint() }}) as won_deals,
        cast(coalesce(deal_totals.revenue, 0) as numeric(18, 2)) as revenue

    from leads

    left join deal_totals
        on leads.lead_id = deal_totals.lead_id

)

select * from final
