-- A view, not a table like the other intermediate models: see the .yml.
{{ config(materialized='view') }}

with

sessions as (

    select * from {{ ref('stg_callpath__sessions') }}

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
        -- right on its own, and the channel rules below can then skip it
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
        {{ channel_from_utm(
            'utm_source', 'utm_medium', 'referrer', 'referrer_host', tags_normalized=true
        ) }} as channel

    from tagged

),

final as (

    select
        *,
        -- only paid clicks are bought on a platform: google/organic costs nothing
        case
            when channel in ('paid_search', 'paid_social') then {{ to_platform('utm_source') }}
        end as ad_platform,
        {{ parse_campaign_id('utm_campaign') }} as campaign_id

    from classified

)

select * from final
