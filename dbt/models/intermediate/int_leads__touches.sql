-- Every touch that can make or extend a lead, in one shape: inbound calls from a
-- known number, web forms and callback requests. A touch's channel is that of
-- its session; a form or callback without a known session is 'unknown'.
-- identity_key is who the touch is from: the phone (E.164), else the email, as
-- the realtime service looks a lead up by phone first, then by email.

with

calls as (

    select * from {{ ref('int_calls__attributed') }}
    -- the realtime service makes no lead of a hidden number: nobody to call back
    where is_inbound
        and caller_number is not null

),

site_touches as (

    select * from {{ ref('stg_callpath__lead_touches') }}
    where touch_type in ('form', 'callback')

),

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

call_touches as (

    select
        company_id,
        'call' as touch_kind,
        entry_id as touch_ref,
        caller_number as phone,
        cast(null as {{ dbt.type_string() }}) as email,
        session_id,
        visitor_id,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        ad_platform,
        campaign_id,
        is_missed,
        started_at as touched_at,
        call_date as touch_date

    from calls

),

form_touches as (

    select
        site_touches.company_id,
        site_touches.touch_type as touch_kind,
        site_touches.touch_ref,
        site_touches.phone,
        site_touches.email,
        sessions.session_id,
        sessions.visitor_id,
        coalesce(sessions.channel, 'unknown') as channel,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign,
        sessions.ad_platform,
        sessions.campaign_id,
        false as is_missed,
        site_touches.touched_at,
        site_touches.touch_date

    from site_touches

    left join sessions
        on site_touches.company_id = sessions.company_id
        and site_touches.session_id = sessions.session_id

),

unioned as (

    select * from call_touches
    union all
    select * from form_touches

),

final as (

    select
        *,
        coalesce(phone, {{ dbt.concat(["'email:'", 'email']) }}) as identity_key

    from unioned
    -- a form with neither phone nor email reaches nobody and makes no lead
    where coalesce(phone, email) is not null

)

select * from final
