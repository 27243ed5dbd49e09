{#-
    The staging models of one CRM: `stg_<crm>__deals` is `{{ stage_crm_deals('<crm>') }}`
    over the source `<crm>.deals` (raw.crm_deals_<crm>), `stg_<crm>__contacts` is
    `{{ stage_crm_contacts('<crm>') }}` over `<crm>.contacts` (raw.crm_contacts_<crm>),
    so every CRM comes out with the same columns and the same cleaning.

    Ids are only unique inside one CRM account, hence the '<crm>:<account>:<id>' keys.
    Phones are normalised to E.164 so they can be matched to caller numbers.
-#}
{% macro crm_key(id_column) -%}
    {{ dbt.concat(['crm', "':'", '_account', "':'", id_column]) }}
{%- endmacro %}


{% macro stage_crm_deals(crm) -%}

with

source as (

    select * from {{ source(crm, 'deals') }}

),

renamed as (

    select

        ---------- ids
        {{ crm_key('deal_id') }} as deal_key,
        deal_id,
        -- null when the deal has no contact
        {{ crm_key('contact_id') }} as contact_key,
        contact_id,
        company_id,
        nullif(session_id, '') as session_id,
        nullif(trim(responsible_user_id), '') as responsible_user_id,

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

{%- endmacro %}


{% macro stage_crm_contacts(crm) -%}

with

source as (

    select * from {{ source(crm, 'contacts') }}

),

renamed as (

    select

        ---------- ids
        {{ crm_key('contact_id') }} as contact_key,
        contact_id,
        company_id,
        nullif(trim(responsible_user_id), '') as responsible_user_id,

        ---------- strings
        crm,
        _account as crm_account,
        {{ to_e164('phone') }} as phone,
        nullif(trim(name), '') as contact_name,

        ---------- timestamps
        updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed

{%- endmacro %}
