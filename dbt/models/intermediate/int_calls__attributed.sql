-- Calls with the session and channel they came from, recomputed in batch by the
-- realtime rule (realtime/calls/service.py: attribute):
--   1. a static number of the company: the number's channel (offline by default);
--   2. else the lease of the number covering the call's start, both ends inclusive;
--      among overlapping (shared) leases the latest taken wins and the reason
--      is shared_lease, since the caller may have seen it in another session;
--   3. else why not: no_lease (the company's number, nobody held it), stray (a
--      number it gave up, in quarantine), unknown_number, no_tracking_number.
-- The pool state comes from the latest tracking_numbers snapshot; for a number with
-- no snapshot at all the realtime verdict decides static, no_lease and stray.

with

calls as (

    select * from {{ ref('stg_callpath__calls') }}

),

leases as (

    select * from {{ ref('stg_callpath__number_leases') }}

),

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

number_snapshots as (

    select
        *,
        row_number() over (
            partition by company_id, tracking_number
            order by snapshot_date desc
        ) as snapshot_rank

    from {{ ref('stg_callpath__tracking_numbers') }}

),

numbers as (

    select * from number_snapshots
    where snapshot_rank = 1

),

-- Each lease once per clock hour it spans (leases last minutes to a few hours), so
-- a call meets only the leases of its own hour: an equality join, not a range join
-- against the number's whole history.
lease_hours as (

    select
        leases.*,
        {{ hour_buckets('leases.leased_from', 'leases.leased_until') }} as lease_hour

    from leases

),

covering_leases as (

    select
        calls.company_id,
        calls.entry_id,
        leases.lease_id,
        leases.session_id,
        leases.is_shared,
        count(*) over (
            partition by calls.company_id, calls.entry_id
        ) as covering_lease_count,
        row_number() over (
            partition by calls.company_id, calls.entry_id
            order by leases.leased_from desc, leases.lease_id desc
        ) as lease_rank

    from calls
    inner join lease_hours as leases
        on calls.company_id = leases.company_id
        and calls.tracking_number = leases.tracking_number
        and {{ dbt.date_trunc('hour', 'calls.started_at') }} = leases.lease_hour
        and leases.leased_from <= calls.started_at
        and calls.started_at <= leases.leased_until

),

lease_match as (

    select * from covering_leases
    where lease_rank = 1

),

resolved as (

    select
        calls.*,
        numbers.static_channel,
        case
            when calls.tracking_number is null then 'no_tracking_number'
            when numbers.is_static and not numbers.is_former then 'static'
            when numbers.tracking_number is null and calls.attribution_reason like 'static:%'
                then 'static'
            when lease_match.lease_id is not null and lease_match.is_shared then 'shared_lease'
            when lease_match.lease_id is not null then 'lease'
            when numbers.tracking_number is not null and not numbers.is_former then 'no_lease'
            when numbers.is_former and numbers.quarantine_until > calls.started_at then 'stray'
            -- no pool snapshot of the number: only the realtime verdict knows why
            when numbers.tracking_number is null
                and calls.attribution_reason in ('no_lease', 'stray', 'unknown_number')
                then calls.attribution_reason
            else 'unknown_number'
        end as batch_reason,
        lease_match.lease_id,
        lease_match.session_id as lease_session_id,
        coalesce(lease_match.covering_lease_count, 0) as covering_lease_count

    from calls

    left join numbers
        on calls.company_id = numbers.company_id
        and calls.tracking_number = numbers.tracking_number

    left join lease_match
        on calls.company_id = lease_match.company_id
        and calls.entry_id = lease_match.entry_id

),

final as (

    select
        resolved.company_id,
        resolved.entry_id,
        case
            when resolved.batch_reason in ('lease', 'shared_lease')
                then resolved.lease_session_id
        end as session_id,
        resolved.lease_id,
        resolved.caller_number,
        resolved.tracking_number,
        resolved.direction,
        resolved.direction = 'inbound' as is_inbound,
        resolved.batch_reason as attribution_reason,
        resolved.covering_lease_count,
        -- what the realtime service decided at call time, kept for comparison
        resolved.session_id as realtime_session_id,
        resolved.attribution_reason as realtime_attribution_reason,
        resolved.is_first_call,
        resolved.is_missed,
        resolved.is_target,
        resolved.talk_seconds,
        resolved.wait_seconds,
        resolved.started_at,
        resolved.call_date,
        case
            when resolved.batch_reason = 'static' then
                {{ channel_from_static(
                    "coalesce(resolved.static_channel,"
                    ~ " substr(resolved.attribution_reason, 8))") }}
            when sessions.session_id is not null then sessions.channel
            else 'unknown'
        end as channel,
        sessions.visitor_id,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign,
        sessions.ad_platform,
        sessions.campaign_id

    from resolved

    left join sessions
        on resolved.company_id = sessions.company_id
        and resolved.lease_session_id = sessions.session_id
        and resolved.batch_reason in ('lease', 'shared_lease')

)

select * from final
