-- One row per call (all directions) with its batch attribution and the realtime
-- service's verdict beside it. Incremental by call_date, like fct_sessions.

{{
    config(
        materialized='incremental',
        unique_key=['company_id', 'entry_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

calls as (

    select * from {{ ref('int_calls__attributed') }}
    {{ incremental_day_filter('call_date') }}

),

final as (

    select
        cast(entry_id as {{ dbt.type_string() }}) as entry_id,
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(call_date as date) as call_date,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(direction as {{ dbt.type_string() }}) as direction,
        is_inbound,
        cast(caller_number as {{ dbt.type_string() }}) as caller_number,
        cast(tracking_number as {{ dbt.type_string() }}) as tracking_number,
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        cast(visitor_id as {{ dbt.type_string() }}) as visitor_id,
        cast(lease_id as {{ dbt.type_string() }}) as lease_id,
        cast(attribution_reason as {{ dbt.type_string() }}) as attribution_reason,
        cast(covering_lease_count as {{ dbt.type_bigint() }}) as covering_lease_count,
        cast(realtime_session_id as {{ dbt.type_string() }}) as realtime_session_id,
        cast(realtime_attribution_reason as {{ dbt.type_string() }})
            as realtime_attribution_reason,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(utm_source as {{ dbt.type_string() }}) as utm_source,
        cast(utm_medium as {{ dbt.type_string() }}) as utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_platform as {{ dbt.type_string() }}) as ad_platform,
        is_first_call,
        is_missed,
        is_target,
        cast(talk_seconds as {{ dbt.type_bigint() }}) as talk_seconds,
        cast(wait_seconds as {{ dbt.type_bigint() }}) as wait_seconds

    from calls

)

select * from final
