with

source as (

    select * from {{ source('ad_platforms', 'ad_spend') }}

),

renamed as (

    select

        ---------- ids
        account_id,
        campaign_id,

        ---------- strings
        platform,
        campaign_name,
        currency,
        _account as connector_account,

        ---------- numerics
        clicks,
        impressions,
        spend,

        ---------- timestamps
        date_day,
        _loaded_at as loaded_at

    from source

)

select * from renamed
