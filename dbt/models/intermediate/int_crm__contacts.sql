-- Contact phones of every CRM in one shape. The CRMs are the `crm__platforms` var:
-- a new CRM is a staging model stg_<crm>__contacts (macros/staging/stage_crm.sql)
-- plus an entry there; nothing here changes.

{%- set columns = [
    'contact_key',
    'contact_id',
    'company_id',
    'responsible_user_id',
    'crm',
    'crm_account',
    'phone',
    'contact_name',
    'updated_at',
    'loaded_at',
] %}

with

contacts as (

    {{ union_platform_models(var('crm__platforms'), 'contacts', columns) }}

),

final as (

    select
        {{ columns | join(',\n        ') }}

    from contacts

)

select * from final
