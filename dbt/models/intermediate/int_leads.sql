-- Skeleton lead rule: every inbound call opens a lead unless the same number
-- called the same company less than `lead_dedupe_days` days before (measured
-- from that previous call, so a caller who keeps calling stays one lead).
-- The first call of a lead carries its attribution; missed calls count, since
-- a missed call is still somebody who wanted to buy.

with

calls as (

    select * from {{ ref('int_calls__attributed') }}
    where is_inbound

),

keyed as (

    select
        *,
        -- hidden numbers cannot be told apart: each such call is a lead of its own
        coalesce(caller_number, {{ dbt.concat(["'entry:'", 'entry_id']) }}) as caller_key

    from calls

),

with_previous as (

    select
        *,
        lag(started_at) over (
            partition by company_id, caller_key
            order by started_at, entry_id
        ) as previous_call_at

    from keyed

),

flagged as (

    select
        *,
        case
            when previous_call_at is null then 1
            when started_at >= {{ dbt.dateadd('day', var('lead_dedupe_days'), 'previous_call_at') }}
                then 1
            else 0
        end as opens_lead

    from with_previous

),

numbered as (

    select
        *,
        sum(opens_lead) over (
            partition by company_id, caller_key
            order by started_at, entry_id
            rows between unbounded preceding and current row
        ) as lead_number

    from flagged

),

lead_calls as (

    select
        company_id,
        caller_key,
        lead_number,
        count(*) as call_count,
        sum(case when is_missed then 0 else 1 end) as answered_call_count,
        max(started_at) as last_call_at

    from numbered
    group by 1, 2, 3

),

first_calls as (

    select * from numbered
    where opens_lead = 1

),

final as (

    select
        {{ dbt.concat(['first_calls.company_id', "':'", 'first_calls.entry_id']) }} as lead_id,
        first_calls.company_id,
        first_calls.caller_number,
        first_calls.entry_id as first_entry_id,
        first_calls.session_id,
        first_calls.channel,
        first_calls.utm_source,
        first_calls.utm_medium,
        first_calls.utm_campaign,
        first_calls.ad_platform,
        first_calls.is_missed as is_first_call_missed,
        lead_calls.call_count,
        lead_calls.answered_call_count,
        first_calls.started_at as lead_created_at,
        lead_calls.last_call_at,
        first_calls.call_date as lead_date

    from first_calls

    inner join lead_calls
        on first_calls.company_id = lead_calls.company_id
        and first_calls.caller_key = lead_calls.caller_key
        and first_calls.lead_number = lead_calls.lead_number

)

select * from final
