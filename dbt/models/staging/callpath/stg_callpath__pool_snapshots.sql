with

source as (

    select * from {{ source('callpath', 'pool_snapshots') }}

),

renamed as (

    select

        ---------- ids
        company_id,

        ---------- strings
        region,

        ---------- numerics
        size as pool_size,
        leased_at_snapshot,
        free_inventory,
        leases,
        shared_leases,
        exhaustion_events,
        peak_arrivals_per_hour,
        mean_hold_minutes,
        offered_load_erlangs,
        target_blocking,
        recommended_size,

        ---------- timestamps
        taken_at,
        _day as snapshot_date

    from source

)

select * from renamed
