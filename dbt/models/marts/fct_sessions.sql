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

    -- Strings are cast to varchar, the contract's type, not dbt.type_string() (text
    -- on PostgreSQL): an incremental run compares the new rows' column types with
    -- the table's and, with on_schema_change='fail', stops on text vs varchar.
    select
        cast(session_id as varchar) as session_id,
        cast(company_id as varchar) as company_id,
        cast(site_id as varchar) as site_id,
        cast(visitor_id as varchar) as visitor_id,
        cast(session_date as date) as session_date,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(channel as varchar) as channel,
        cast(utm_source as varchar) as utm_source,
        cast(utm_medium as varchar) as utm_medium,
        cast(utm_campaign as varchar) as utm_campaign,
        cast(utm_content as varchar) as utm_content,
        cast(utm_term as varchar) as utm_term,
        cast(campaign_id as varchar) as campaign_id,
        cast(ad_platform as varchar) as ad_platform,
        cast(referrer as varchar) as referrer,
        cast(landing_url as varchar) as landing_url

    from sessions

)

select * from final
