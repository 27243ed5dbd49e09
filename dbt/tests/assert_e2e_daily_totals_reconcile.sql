-- The report neither loses nor duplicates anything it counts: its totals equal
-- the counts of the models it is built from. Deals count only when matched to a
-- lead; revenue is the amount of the matched won deals. Returns the measures
-- whose totals differ.

with

report as (

    select
        coalesce(sum(sessions), 0) as sessions,
        coalesce(sum(calls), 0) as calls,
        coalesce(sum(leads), 0) as leads,
        coalesce(sum(deals), 0) as deals,
        coalesce(sum(revenue), 0) as revenue

    from {{ ref('e2e_daily') }}

),

expected as (

    select
        (select count(*) from {{ ref('int_sessions__channels') }}) as sessions,
        (select count(*) from {{ ref('int_calls__attributed') }} where is_inbound) as calls,
        (select count(*) from {{ ref('int_leads') }}) as leads,
        (select count(*) from {{ ref('int_deals__matched') }} where lead_id is not null) as deals,
        (
            select coalesce(sum(amount), 0)
            from {{ ref('int_deals__matched') }}
            where lead_id is not null and is_won
        ) as revenue

),

differences as (

    select 'sessions' as measure, report.sessions as in_report, expected.sessions as expected
    from report cross join expected where report.sessions <> expected.sessions
    union all
    select 'calls', report.calls, expected.calls
    from report cross join expected where report.calls <> expected.calls
    union all
    select 'leads', report.leads, expected.leads
    from report cross join expected where report.leads <> expected.leads
    union all
    select 'deals', report.deals, expected.deals
    from report cross join expected where report.deals <> expected.deals
    union all
    select 'revenue', report.revenue, expected.revenue
    from report cross join expected where report.revenue <> expected.revenue

)

select * from differences
