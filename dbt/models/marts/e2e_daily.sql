-- End-to-end marketing report: from ad spend through visits, calls, forms and
-- leads to CRM revenue, per company, day and traffic source.
--
-- Each measure is counted on its own date and then stacked (union + sum), so no
-- measure can multiply another through a join: sessions on the visit day, calls
-- on the call day, forms and callback requests on the day they were sent, leads
-- on the day of their first touch, deals and revenue on their lead's day (a
-- cohort view: what the day's leads eventually bought), cost on the spend day.
-- campaign_id and platform depend on the grain's utm values; the spend side
-- knows them best, so each row takes the largest non-null value seen.

{%- set measures = [
    'sessions', 'visitors', 'calls', 'unique_calls', 'target_calls', 'missed_calls',
    'forms', 'callbacks', 'leads', 'deals', 'won_deals', 'revenue', 'cost'] %}


with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

calls as (

    select * from {{ ref('fct_calls') }}
    where is_inbound

),

site_touches as (

    select * from {{ ref('int_leads__touches') }}
    where touch_kind in ('form', 'callback')

),

leads as (

    select * from {{ ref('fct_leads') }}

),

matched_deals as (

    select * from {{ ref('fct_deals') }}
    where lead_id is not null

),

ad_spend as (

    select * from {{ ref('fct_ad_spend') }}

),

session_counts as (

    select
        company_id,
        session_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(ad_platform) as platform,
        {{ stack_measures(measures, {
            'sessions': 'count(*)',
            'visitors': 'count(distinct visitor_id)'}) }}

    from sessions
    group by 1, 2, 3, 4, 5, 6

),

call_counts as (

    select
        company_id,
        call_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(ad_platform) as platform,
        {{ stack_measures(measures, {
            'calls': 'count(*)',
            'unique_calls': 'sum(case when is_first_call then 1 else 0 end)',
            'target_calls': 'sum(case when is_target then 1 else 0 end)',
            'missed_calls': 'sum(case when is_missed then 1 else 0 end)'}) }}

    from calls
    group by 1, 2, 3, 4, 5, 6

),

touch_counts as (

    select
        company_id,
        touch_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(ad_platform) as platform,
        {{ stack_measures(measures, {
            'forms': "sum(case when touch_kind = 'form' then 1 else 0 end)",
            'callbacks': "sum(case when touch_kind = 'callback' then 1 else 0 end)"}) }}

    from site_touches
    group by 1, 2, 3, 4, 5, 6

),

lead_counts as (

    select
        company_id,
        lead_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(ad_platform) as platform,
        {{ stack_measures(measures, {'leads': 'count(*)'}) }}

    from leads
    group by 1, 2, 3, 4, 5, 6

),

deal_totals as (

    select
        company_id,
        lead_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(ad_platform) as platform,
        {{ stack_measures(measures, {
            'deals': 'count(*)',
            'won_deals': 'sum(case when is_won then 1 else 0 end)',
            'revenue': 'sum(case when is_won then amount else 0 end)'}) }}

    from matched_deals
    group by 1, 2, 3, 4, 5, 6

),

cost_totals as (

    select
        company_id,
        date_day as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(platform) as platform,
        {{ stack_measures(measures, {'cost': 'sum(spend)'}) }}

    from ad_spend
    group by 1, 2, 3, 4, 5, 6

),

stacked as (

    select * from session_counts
    union all
    select * from call_counts
    union all
    select * from touch_counts
    union all
    select * from lead_counts
    union all
    select * from deal_totals
    union all
    select * from cost_totals

),

totals as (

    select
        company_id,
        report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        max(campaign_id) as campaign_id,
        max(platform) as platform,
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}

    from stacked
    group by 1, 2, 3, 4, 5, 6

),

final as (

    select
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(report_date as date) as report_date,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(platform as {{ dbt.type_string() }}) as platform,
        {%- for measure in measures if measure not in ('revenue', 'cost') %}
        cast({{ measure }} as {{ dbt.type_bigint() }}) as {{ measure }},
        {%- endfor %}
        cast(revenue as numeric(18, 2)) as revenue,
        cast(cost as numeric(18, 2)) as cost,
        -- ratios are null, not an error or infinity, when there is nothing to divide by
        {{ safe_ratio('cost', 'leads') }} as cpl,
        {{ safe_ratio('cost', 'won_deals') }} as cac,
        {{ safe_ratio('revenue - cost', 'cost') }} as roi,
        {{ safe_ratio('revenue', 'cost') }} as roas,
        {{ safe_ratio('leads', 'sessions') }} as lead_conversion,
        {{ safe_ratio('won_deals', 'leads') }} as deal_conversion

    from totals

)

select * from final
