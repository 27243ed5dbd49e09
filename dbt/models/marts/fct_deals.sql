-- One row per CRM deal with the lead it was matched to (or "no lead") and that
-- lead's date and attribution, so revenue can be read by the lead's channel.

with

deals as (

    select * from {{ ref('int_deals__matched') }}

),

leads as (

    select * from {{ ref('int_leads') }}

),

final as (

    select
        cast(deals.deal_key as {{ dbt.type_string() }}) as deal_key,
        cast(deals.deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(deals.crm as {{ dbt.type_string() }}) as crm,
        cast(deals.crm_account as {{ dbt.type_string() }}) as crm_account,
        cast(deals.company_id as {{ dbt.type_string() }}) as company_id,
        cast(deals.status as {{ dbt.type_string() }}) as status,
        deals.is_won,
        cast(deals.amount as numeric(18, 2)) as amount,
        cast(deals.currency as {{ dbt.type_string() }}) as currency,
        cast(deals.created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(deals.closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        cast(deals.lead_id as {{ dbt.type_string() }}) as lead_id,
        cast(deals.match_method as {{ dbt.type_string() }}) as match_method,
        cast(leads.lead_date as date) as lead_date,
        cast(leads.channel as {{ dbt.type_string() }}) as channel,
        cast(leads.utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(leads.utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(leads.utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(leads.campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(leads.ad_platform as {{ dbt.type_string() }}) as ad_platform

    from deals

    left join leads
        on deals.lead_id = leads.lead_id

)

select * from final
