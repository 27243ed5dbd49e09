-- The report neither loses nor duplicates anything it counts: its totals equal
-- the counts of the marts it is built from. Deals count only when matched to a
-- lead; revenue is the amount of the matched won deals. Returns the measures
-- whose totals differ.

{%- set measures = ['sessions', 'calls', 'missed_calls', 'forms', 'callbacks', 'leads',
                    'deals', 'won_deals', 'revenue'] %}

with

report as (

    select
        {%- for measure in measures %}
        coalesce(sum({{ measure }}), 0) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}

    from {{ ref('e2e_daily') }}

),

expected as (

    select
        (select count(*) from {{ ref('fct_sessions') }}) as sessions,
        (select count(*) from {{ ref('fct_calls') }} where is_inbound) as calls,
        (select count(*) from {{ ref('fct_calls') }} where is_inbound and is_missed)
            as missed_calls,
        (select count(*) from {{ ref('int_leads__touches') }} where touch_kind = 'form')
            as forms,
        (select count(*) from {{ ref('int_leads__touches') }} where touch_kind = 'callback')
            as callbacks,
        (select count(*) from {{ ref('fct_leads') }}) as leads,
        (select count(*) from {{ ref('fct_deals') }} where lead_id is not null) as deals,
        (select count(*) from {{ ref('fct_deals') }} where lead_id is not null and is_won)
            as won_deals,
        (
            select coalesce(sum(amount), 0)
            from {{ ref('fct_deals') }}
            where lead_id is not null and is_won
        ) as revenue

),

differences as (

    {%- for measure in measures %}
    select
        '{{ measure }}' as measure,
        cast(report.{{ measure }} as numeric(18, 2)) as in_report,
        cast(expected.{{ measure }} as numeric(18, 2)) as expected
    from report
    cross join expected
    where report.{{ measure }} <> expected.{{ measure }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from differences
