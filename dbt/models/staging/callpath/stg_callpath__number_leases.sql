with

source as (

    select * from {{ source('callpath', 'number_leases') }}

),

renamed as (

    select

        ---------- ids
        lease_id,
        company_id,
        session_id,

        ---------- strings
        {{ to_e164('number') }} as tracking_number,

        ---------- booleans
        is_shared,

        ---------- timestamps
        leased_from,
        last_seen_at,
        leased_until,
        _day as lease_date

    from source

)

select * from renamed
