-- Under every attribution model the report shares out exactly what there is:
-- attributed leads sum to the number of leads, attributed won deals and revenue
-- to the won deals matched to leads, and cost to the total ad spend (each model
-- carries the whole cost once). Returns the (model, measure) pairs that differ.

with

attribution_models as (

    {{ attribution_models_relation() }}

),

report as (

    select
        attribution_model,
        sum(attributed_leads) as attributed_leads,
        sum(attributed_won_deals) as attributed_won_deals,
        sum(attributed_revenue) as attributed_revenue,
        sum(cost) as cost

    from {{ ref('attribution') }}
    group by 1

),

expected as (

    select
        (select count(*) from {{ ref('int_leads') }}) as leads,
        (
            select count(*)
            from {{ ref('int_deals__matched') }}
            where lead_id is not null and is_won
        ) as won_deals,
        (
            select coalesce(sum(amount), 0)
            from {{ ref('int_deals__matched') }}
            where lead_id is not null and is_won
        ) as revenue,
        (
            select coalesce(sum(spend), 0)
            from {{ ref('int_ad_spend__matched') }}
        ) as spend

),

compared as (

    select
        attribution_models.attribution_model,
        coalesce(report.attributed_leads, 0) as attributed_leads,
        coalesce(report.attributed_won_deals, 0) as attributed_won_deals,
        coalesce(report.attributed_revenue, 0) as attributed_revenue,
        coalesce(report.cost, 0) as cost,
        expected.leads,
        expected.won_deals,
        expected.revenue,
        expected.spend

    from attribution_models
    cross join expected

    left join report
        on attribution_models.attribution_model = report.attribution_model

),

differences as (

    select attribution_model, 'leads' as measure,
        attributed_leads as in_report, cast(leads as double precision) as expected
    from compared where abs(attributed_leads - leads) > 1e-6
    union all
    select attribution_model, 'won_deals',
        attributed_won_deals, cast(won_deals as double precision)
    from compared where abs(attributed_won_deals - won_deals) > 1e-6
    union all
    -- revenue is split into fractions, so it agrees to the cent, not to the bit
    select attribution_model, 'revenue',
        attributed_revenue, cast(revenue as double precision)
    from compared where abs(attributed_revenue - cast(revenue as double precision)) >= 0.01
    union all
    select attribution_model, 'cost',
        cast(cost as double precision), cast(spend as double precision)
    from compared where cost <> spend

)

select * from differences
