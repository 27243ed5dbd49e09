-- One row per website session with its channel, tags, campaign and whether a lead
-- started in it. Incremental by session_date (macros/incremental_day_filter.sql):
-- sessions are the largest table, and a day's sessions never change once landed
-- except by re-extraction, which the lookback covers.

{{
    config(
        materialized='incremental',
        unique_key=['company_id', 'session_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

sessions as (

    select * from {{ ref('int_sessions__channels') }}
    {{ incremental_day_filter('session_date') }}

),

final as (

    select
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(visitor_id as {{ dbt.type_string() }}) as visitor_id,
        cast(session_date as date) as session_date,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(utm_content as {{ dbt.type_string() }}) as utm_content,
        cast(utm_term as {{ dbt.type_string() }}) as utm_term,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_platform as {{ dbt.type_string() }}) as ad_platform,
        cast(referrer as {{ dbt.type_string() }}) as referrer,
        cast(landing_url as {{ dbt.type_string() }}) as landing_url

    from sessions

)

select * from final
