-- Every matched deal is counted on exactly one lead: the deal totals of fct_leads
-- equal the matched deals of fct_deals. Returns a row when they differ.

with

by_lead as (

    select
        coalesce(sum(deals), 0) as deals,
        coalesce(sum(won_deals), 0) as won_deals,
        coalesce(sum(revenue), 0) as revenue

    from {{ ref('fct_leads') }}

),

by_deal as (

    select
        count(*) as deals,
        coalesce(sum(case when is_won then 1 else 0 end), 0) as won_deals,
        coalesce(sum(case when is_won then amount else 0 end), 0) as revenue

    from {{ ref('fct_deals') }}
    where lead_id is not null

)

select
    by_lead.deals as lead_deals,
    by_deal.deals as matched_deals,
    by_lead.won_deals as lead_won_deals,
    by_deal.won_deals as matched_won_deals,
    by_lead.revenue as lead_revenue,
    by_deal.revenue as matched_revenue

from by_lead
cross join by_deal
where by_lead.deals <> by_deal.deals
    or by_lead.won_deals <> by_deal.won_deals
    or by_lead.revenue <> by_deal.revenue
