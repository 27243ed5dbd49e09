-- One row per website session with its channel, tags and campaign. A view of
-- int_sessions__channels, where sessions are stored (incrementally, by day): the
-- largest table is written once per build, not twice. Publishing
-- (pipelines/publish.py) copies it into a table like every mart.

{{ config(materialized='view') }}

with

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

final as (

    select
        session_id,
        company_id,
        site_id,
        visitor_id,
        session_date,
        started_at,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        campaign_id,
        ad_platform,
        referrer,
        landing_url

    from sessions

)

select * from final
