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

    -- Strings are cast to varchar, the contract's type, not dbt.type_string() (text
    -- on PostgreSQL): an incremental run compares the new rows' column types with
    -- the table's and, with on_schema_change='fail', stops on text vs varchar.
    select
        cast(entry_id as varchar) as entry_id,
        cast(company_id as varchar) as company_id,
        cast(call_date as date) as call_date,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(direction as varchar) as direction,
        is_inbound,
        cast(caller_number as varchar) as caller_number,
        cast(tracking_number as varchar) as tracking_number,
        cast(session_id as varchar) as session_id,
        cast(visitor_id as varchar) as visitor_id,
        cast(lease_id as varchar) as lease_id,
        cast(attribution_reason as varchar) as attribution_reason,
        cast(covering_lease_count as {{ dbt.type_bigint() }}) as covering_lease_count,
        cast(realtime_session_id as varchar) as realtime_session_id,
        cast(realtime_attribution_reason as varchar)
            as realtime_attribution_reason,
        cast(channel as varchar) as channel,
        cast(utm_source as varchar) as utm_source,
        cast(utm_medium as varchar) as utm_medium,
        cast(utm_campaign as varchar) as utm_campaign,
        cast(campaign_id as varchar) as campaign_id,
        cast(ad_platform as varchar) as ad_platform,
        is_first_call,
        is_missed,
        is_target,
        cast(talk_seconds as {{ dbt.type_bigint() }}) as talk_seconds,
        cast(wait_seconds as {{ dbt.type_bigint() }}) as wait_seconds

    from calls

)

select * from final
