with

source as (

    select * from {{ source('callpath', 'calls') }}

),

renamed as (

    select

        ---------- ids
        entry_id,
        company_id,
        session_id,

        ---------- strings
        {{ to_e164('tracking_number') }} as tracking_number,
        {{ to_e164('caller_number') }} as caller_number,
        direction,
        employee_extension,
        disconnect_reason,
        -- how the realtime service tied the call to a session, e.g. 'lease:...',
        -- or 'static:<channel>' for numbers printed offline
        attribution_reason,

        ---------- numerics
        wait_seconds,
        talk_seconds,

        ---------- booleans
        is_first_call,
        is_target,
        is_missed,

        ---------- timestamps
        started_at,
        answered_at,
        ended_at,
        -- the partition day is already the company's local date: the report date
        _day as call_date

    from source

)

select * from renamed
