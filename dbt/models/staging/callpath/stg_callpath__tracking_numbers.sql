with

source as (

    select * from {{ source('callpath', 'tracking_numbers') }}

),

renamed as (

    select

        ---------- ids
        company_id,

        ---------- strings
        {{ to_e164('number') }} as tracking_number,
        region,
        kind,
        -- static numbers only, e.g. 'offline/billboard-msk'
        channel as static_channel,

        ---------- booleans
        kind = 'static' as is_static,
        -- a number the company gave up, resting in quarantine
        is_former,

        ---------- timestamps
        quarantine_until,
        _day as snapshot_date

    from source

)

select * from renamed
