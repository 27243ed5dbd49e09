-- Every unit of ad spend shows up in the report exactly once: spend that no
-- session claims must keep a row of its own instead of falling out of a join.
-- Returns a row (fails) when the totals differ.

with

report as (

    select coalesce(sum(cost), 0) as cost from {{ ref('e2e_daily') }}

),

spend as (

    select coalesce(sum(spend), 0) as spend from {{ ref('fct_ad_spend') }}

)

select
    report.cost,
    spend.spend

from report
cross join spend
where report.cost <> spend.spend
