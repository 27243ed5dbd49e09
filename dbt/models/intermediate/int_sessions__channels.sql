-- Sessions are the largest table, and storing them is the costliest step of a
-- build (BENCHMARKS.md), so they are stored once, here, with their channel: every
-- model that needs a session's channel reads this table, and fct_sessions is a view
-- of it. Incremental by session_date (macros/incremental_day_filter.sql): a day's
-- sessions never change once landed except by re-extraction, which the lookback
-- covers.

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

    select * from {{ ref('stg_callpath__sessions') }}
    {{ incremental_day_filter('session_date') }}

),

-- Auto-tagged ad clicks can arrive with a click id and no utm tags at all. They are
-- still paid search from a known platform; only the campaign is unknown.
tagged as (

    select
        session_id,
        company_id,
        site_id,
        visitor_id,
        -- staging already trims and lowercases; once more here keeps this model
        -- right on its own, and the channel rules (channel_from_utm) expect it
        case
            when utm_source is not null or utm_medium is not null then lower(trim(utm_source))
            when yclid is not null then 'yandex'
            when gclid is not null then 'google'
        end as utm_source,
        case
            when utm_source is not null or utm_medium is not null then lower(trim(utm_medium))
            when yclid is not null or gclid is not null then 'cpc'
        end as utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        referrer,
        {{ channel_referrer_host('referrer') }} as referrer_host,
        landing_url,
        started_at,
        session_date

    from sessions

),

classified as (

    select
        *,
        {{ channel_from_utm('utm_source', 'utm_medium', 'referrer', 'referrer_host') }} as channel

    from tagged

),

platformed as (

    select
        *,
        -- only paid clicks are bought on a platform: google/organic costs nothing
        case
            when channel in ('paid_search', 'paid_social') then {{ to_platform('utm_source') }}
        end as ad_platform,
        {{ parse_campaign_id('utm_campaign') }} as campaign_id

    from classified

),

final as (

    -- Strings are cast to varchar, the type fct_sessions' contract declares, not
    -- dbt.type_string() (text on PostgreSQL): fct_sessions is a view of this table,
    -- and its contract check stops on text vs varchar.
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

    from platformed

)

select * from final
