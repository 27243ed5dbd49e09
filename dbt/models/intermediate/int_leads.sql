-- One row per lead, by the realtime rule (realtime/leads/service.py): touches from
-- the same person (phone, else email) to the same company belong to one lead while
-- each comes at most `lead_dedupe_days` after the lead's previous touch (the window
-- runs from the last touch, inclusive, so a caller who keeps calling stays one
-- lead). The first touch defines the lead: its time, kind, session and channel.
-- lead_id is '<company_id>:<kind>:<ref of the first touch>', stable across rebuilds.

with

touches as (

    select * from {{ ref('int_leads__touches') }}

),

with_previous as (

    select
        *,
        lag(touched_at) over (
            partition by company_id, identity_key
            order by touched_at, touch_kind, touch_ref
        ) as previous_touch_at

    from touches

),

flagged as (

    select
        *,
        case
            when previous_touch_at is null then 1
            when touched_at > {{ dbt.dateadd('day', var('lead_dedupe_days'), 'previous_touch_at') }}
                then 1
            else 0
        end as opens_lead

    from with_previous

),

numbered as (

    select
        *,
        sum(opens_lead) over (
            partition by company_id, identity_key
            order by touched_at, touch_kind, touch_ref
            rows between unbounded preceding and current row
        ) as lead_number

    from flagged

),

lead_totals as (

    select
        company_id,
        identity_key,
        lead_number,
        count(*) as touch_count,
        sum(case when touch_kind = 'call' then 1 else 0 end) as call_count,
        sum(case when touch_kind = 'call' and not is_missed then 1 else 0 end)
            as answered_call_count,
        sum(case when touch_kind = 'form' then 1 else 0 end) as form_count,
        sum(case when touch_kind = 'callback' then 1 else 0 end) as callback_count,
        max(phone) as phone,
        max(email) as email,
        max(touched_at) as last_touch_at

    from numbered
    group by 1, 2, 3

),

first_touches as (

    select * from numbered
    where opens_lead = 1

),

final as (

    select
        {{ dbt.concat([
            'first_touches.company_id', "':'",
            'first_touches.touch_kind', "':'",
            'first_touches.touch_ref']) }} as lead_id,
        first_touches.company_id,
        first_touches.touch_kind as first_touch_kind,
        first_touches.touch_ref as first_touch_ref,
        first_touches.session_id,
        first_touches.visitor_id,
        lead_totals.phone,
        -- the phone again under the name deal matching and older reports use
        lead_totals.phone as caller_number,
        lead_totals.email,
        first_touches.channel,
        first_touches.utm_source,
        first_touches.utm_medium,
        first_touches.utm_campaign,
        first_touches.ad_platform,
        first_touches.campaign_id,
        first_touches.touch_kind = 'call' and first_touches.is_missed as is_first_call_missed,
        lead_totals.touch_count,
        lead_totals.call_count,
        lead_totals.answered_call_count,
        lead_totals.form_count,
        lead_totals.callback_count,
        first_touches.touched_at as lead_created_at,
        lead_totals.last_touch_at,
        first_touches.touch_date as lead_date

    from first_touches

    inner join lead_totals
        on first_touches.company_id = lead_totals.company_id
        and first_touches.identity_key = lead_totals.identity_key
        and first_touches.lead_number = lead_totals.lead_number

)

select * from final
