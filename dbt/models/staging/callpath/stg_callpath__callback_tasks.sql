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

        ---------- strings
        {{ to_e164('phone') }} as phone,
        reason,
        status,

        ---------- booleans
        status = 'done' as is_done,

        ---------- timestamps
        created_at,
        done_at,
        _day as task_date

    from source

)

select * from renamed
