with

source as (

    select * from {{ source('callpath', 'lead_touches') }}

),

renamed as (

    select

        ---------- ids
        company_id,
        -- the realtime service's lead id; int_leads regroups touches by itself
        lead_id as realtime_lead_id,
        touch_ref,
        nullif(session_id, '') as session_id,

        ---------- strings
        touch_type,
        {{ to_e164('phone') }} as phone,
        lower(nullif(trim(email), '')) as email,
        page,

        ---------- timestamps
        touched_at,
        _day as touch_date

    from source

)

select * from renamed
