-- Multi-touch attribution report: how many leads, won deals and how much revenue
-- each channel and campaign earns under each attribution model, next to what it
-- cost. Rules: docs/attribution.md.
--
-- Credit lands on the day of the touch (the session), not of the lead, because
-- that is the day the money bought the click: the day's cost and the credit its
-- clicks earned stand on one row, and roas compares them.
--
-- Cost is the same ad spend as e2e_daily's (int_ad_spend__matched, per company,
-- spend day and UTM row), repeated under every model, so each model on its own sums
-- to the total spend; never add cost up across models.

with

credits as (

    select * from {{ ref('int_attribution__credits') }}

),

ad_spend as (

    select * from {{ ref('int_ad_spend__matched') }}

),

attribution_models as (

    {{ attribution_models_relation() }}

),

credit_totals as (

    select
        company_id,
        attribution_model,
        touch_date as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        -- Credits are floats (time_decay); summed as floats, a parallel engine adds them
        -- in a different order each run and the last digits change, so the same day
        -- built twice would not give identical marts. Fixed-point sums are exact in
        -- any order: 12 decimals keep every credit's meaningful digits.
        sum(cast(credit as numeric(38, 12))) as attributed_leads,
        sum(cast(credit * won_deals as numeric(38, 12))) as attributed_won_deals,
        sum(cast(credit * cast(revenue as double precision) as numeric(38, 12)))
            as attributed_revenue,
        0 as cost

    from credits
    group by 1, 2, 3, 4, 5, 6, 7

),

spend_totals as (

    select
        company_id,
        date_day as report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        sum(spend) as cost

    from ad_spend
    group by 1, 2, 3, 4, 5, 6

),

cost_totals as (

    select
        spend_totals.company_id,
        attribution_models.attribution_model,
        spend_totals.report_date,
        spend_totals.channel,
        spend_totals.utm_source,
        spend_totals.utm_medium,
        spend_totals.utm_campaign,
        0 as attributed_leads,
        0 as attributed_won_deals,
        0 as attributed_revenue,
        spend_totals.cost

    from spend_totals
    cross join attribution_models

),

stacked as (

    select * from credit_totals
    union all
    select * from cost_totals

),

totals as (

    select
        company_id,
        attribution_model,
        report_date,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        sum(attributed_leads) as attributed_leads,
        sum(attributed_won_deals) as attributed_won_deals,
        sum(attributed_revenue) as attributed_revenue,
        sum(cost) as cost

    from stacked
    group by 1, 2, 3, 4, 5, 6, 7

),

final as (

    select
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(attribution_model as {{ dbt.type_string() }}) as attribution_model,
        cast(report_date as date) as report_date,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(attributed_leads as double precision) as attributed_leads,
        cast(attributed_won_deals as double precision) as attributed_won_deals,
        cast(attributed_revenue as double precision) as attributed_revenue,
        cast(cost as numeric(18, 2)) as cost,
        -- null, not an error or infinity, when there is no cost to divide by
        {{ safe_ratio('attributed_revenue', 'cost') }} as roas

    from totals

)

select * from final
