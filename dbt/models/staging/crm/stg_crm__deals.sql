with

source as (

    select * from {{ source('crm', 'crm_deals') }}

),

renamed as (

    select

        ---------- ids
        -- deal ids are only unique inside one CRM account
        {{ dbt.concat(['crm', "':'", '_account', "':'", 'deal_id']) }} as deal_key,
        deal_id,
        company_id,
        nullif(session_id, '') as session_id,

        ---------- strings
        crm,
        _account as crm_account,
        status,
        currency,
        {{ to_e164('contact_phone') }} as contact_phone,
        lower(nullif(trim(utm_source), '')) as utm_source,
        lower(nullif(trim(utm_medium), '')) as utm_medium,
        nullif(trim(utm_campaign), '') as utm_campaign,

        ---------- numerics
        amount,

        ---------- booleans
        status = 'won' as is_won,

        ---------- timestamps
        created_at,
        updated_at,
        closed_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
