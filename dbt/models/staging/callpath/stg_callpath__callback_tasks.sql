with

source as (

    select * from {{ source('callpath', 'callback_tasks') }}

),

renamed as (

    select

        ---------- ids
        company_id,
        task_id,
        lead_id as realtime_lead_id,
        -- the callback request's id or the missed call's entry_id
        ref as task_ref,

        -- the answered call that closed the task (missed-call protection)
        closed_by_entry_id,

        ---------- strings
        {{ to_e164('phone') }} as phone,
        reason,
        status,
        -- manual (POST .../done) or answered_call (a later answered call, either way)
        closed_by,
        auto_callback_status,

        ---------- booleans
        status = 'done' as is_done,
        closed_by_target_call,

        ---------- timestamps
        created_at,
        done_at,
        _day as task_date

    from source

)

select * from renamed
