-- End-to-end marketing report: from ad spend through visits, calls and leads to
-- CRM revenue, per day and traffic source.
--
-- Each measure is counted on its own date and then stacked (union + sum), so no
-- measure can multiply another through a join: sessions on the visit day, calls
-- on the call day, leads on the day of their first call, deals and revenue on
-- their lead's day (a cohort view: what the day's leads eventually bought),
-- cost on the spend day.

with

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

calls as (

    select * from {{ ref('int_calls__attributed') }}
    where is_inbound

),

leads as (

    select * from {{ ref('int_leads') }}

),

matched_deals as (

    select * from {{ ref('int_deals__matched') }}
    where lead_id is not null

),

ad_spend as (

    select * from {{ ref('int_ad_spend__matched') }}

),

session_counts as (

    select
        session_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        count(*) as sessions,
        0 as calls,
        0 as leads,
        0 as deals,
        0 as revenue,
        0 as cost

    from sessions
    group by 1, 2, 3, 4, 5

),

call_counts as (

    select
        call_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        0 as sessions,
        count(*) as calls,
        0 as leads,
        0 as deals,
        0 as revenue,
        0 as cost

    from calls
    group by 1, 2, 3, 4, 5

),

lead_counts as (

    select
        lead_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        0 as sessions,
        0 as calls,
        count(*) as leads,
        0 as deals,
        0 as revenue,
        0 as cost

    from leads
    group by 1, 2, 3, 4, 5

),

deal_totals as (

    select
        leads.lead_date as report_date,
        leads.channel,
        leads.utm_source,
        leads.utm_medium,
        leads.utm_campaign,
        0 as sessions,
        0 as calls,
        0 as leads,
        count(*) as deals,
        sum(case when matched_deals.is_won then matched_deals.amount else 0 end) as revenue,
        0 as cost

    from matched_deals
    inner join leads
        on matched_deals.lead_id = leads.lead_id
    group by 1, 2, 3, 4, 5

),

cost_totals as (

    select
        date_day as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        0 as sessions,
        0 as calls,
        0 as leads,
        0 as deals,
        0 as revenue,
        sum(spend) as cost

    from ad_spend
    group by 1, 2, 3, 4, 5

),

stacked as (

    select * from session_counts
    union all
    select * from call_counts
    union all
    select * from lead_counts
    union all
    select * from deal_totals
    union all
    select * from cost_totals

),

totals as (

    select
        report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        sum(sessions) as sessions,
        sum(calls) as calls,
        sum(leads) as leads,
        sum(deals) as deals,
        sum(revenue) as revenue,
        sum(cost) as cost

    from stacked
    group by 1, 2, 3, 4, 5

),

final as (

    select
        cast(report_date as date) as report_date,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(calls as {{ dbt.type_bigint() }}) as calls,
        cast(leads as {{ dbt.type_bigint() }}) as leads,
        cast(deals as {{ dbt.type_bigint() }}) as deals,
        cast(revenue as numeric(18, 2)) as revenue,
        cast(cost as numeric(18, 2)) as cost,
        -- null, not an error or infinity, when there is nothing to divide by
        cast(cost as double precision) / nullif(leads, 0) as cpl,
        cast(revenue - cost as double precision) / nullif(cost, 0) as roi

    from totals

)

select * from final
