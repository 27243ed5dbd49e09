-- Calls with the marketing attributes of the session their tracking number was
-- leased to. The realtime service resolved the session at call time; this model
-- only looks it up.

with

calls as (

    select * from {{ ref('stg_callpath__calls') }}

),

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

joined as (

    select
        calls.company_id,
        calls.entry_id,
        calls.session_id,
        calls.caller_number,
        calls.tracking_number,
        calls.direction,
        calls.direction = 'inbound' as is_inbound,
        calls.attribution_reason,
        calls.is_missed,
        calls.is_target,
        calls.talk_seconds,
        calls.started_at,
        calls.call_date,
        case
            when sessions.session_id is not null then sessions.channel
            -- static numbers are printed on billboards, flyers, radio: no session
            when calls.attribution_reason like 'static:%' then 'offline'
            else 'unknown'
        end as channel,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign,
        sessions.ad_platform

    from calls

    left join sessions
        on calls.session_id = sessions.session_id
        and calls.company_id = sessions.company_id

)

select * from joined
