-- Deals of every CRM in one shape. The CRMs are the `crm__platforms` var: a new CRM
-- is a staging model stg_<crm>__deals (macros/staging/stage_crm.sql) plus an entry
-- there; nothing here changes.

{%- set columns = [
    'deal_key',
    'deal_id',
    'contact_key',
    'contact_id',
    'company_id',
    'session_id',
    'responsible_user_id',
    'crm',
    'crm_account',
    'status',
    'currency',
    'contact_phone',
    'utm_source',
    'utm_medium',
    'utm_campaign',
    'amount',
    'is_won',
    'created_at',
    'updated_at',
    'closed_at',
    'loaded_at',
] %}

with

deals as (

    {{ union_platform_models(var('crm__platforms'), 'deals', columns) }}

),

final as (

    select
        {{ columns | join(',\n        ') }}

    from deals

)

select * from final
