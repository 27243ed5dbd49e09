-- The tracking-number pool per company and day: how much of it was used, how
-- often it ran out, what that cost in attribution, and the sizing advisor's
-- recommended size against the actual one.
--
-- Leases and calls come from the event history; size, exhaustion and the
-- recommendation from the daily pool snapshot (raw.pool_snapshots, landed by
-- pipelines.extract.extract_pool_snapshot), summed over the pool's regions. A day
-- without a snapshot has null size and recommendation, not zero.

{%- set measures = [
    'leases', 'shared_leases', 'leased_seconds', 'calls', 'stray_calls', 'no_lease_calls',
    'shared_lease_calls', 'unattributed_calls'] %}

with

leases as (

    select
        company_id,
        lease_date,
        is_shared,
        {{ dbt.datediff('leased_from', 'leased_until', 'second') }} as leased_seconds

    from {{ ref('stg_callpath__number_leases') }}

),

calls as (

    select * from {{ ref('fct_calls') }}
    where is_inbound

),

snapshots as (

    select * from {{ ref('stg_callpath__pool_snapshots') }}

),

lease_totals as (

    select
        company_id,
        lease_date as report_date,
        {{ stack_measures(measures, {
            'leases': 'count(*)',
            'shared_leases': 'sum(case when is_shared then 1 else 0 end)',
            'leased_seconds': 'sum(leased_seconds)'}) }}

    from leases
    group by 1, 2

),

call_totals as (

    select
        company_id,
        call_date as report_date,
        {{ stack_measures(measures, {
            'calls': 'count(*)',
            'stray_calls': "sum(case when attribution_reason = 'stray' then 1 else 0 end)",
            'no_lease_calls': "sum(case when attribution_reason = 'no_lease' then 1 else 0 end)",
            'shared_lease_calls':
                "sum(case when attribution_reason = 'shared_lease' then 1 else 0 end)",
            'unattributed_calls':
                "sum(case when attribution_reason in ('lease', 'shared_lease', 'static')"
                ~ " then 0 else 1 end)"}) }}

    from calls
    group by 1, 2

),

stacked as (

    select * from lease_totals
    union all
    select * from call_totals

),

activity as (

    select
        company_id,
        report_date,
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}

    from stacked
    group by 1, 2

),

pool_sizes as (

    select
        company_id,
        snapshot_date as report_date,
        sum(pool_size) as pool_size,
        sum(recommended_size) as recommended_size,
        sum(exhaustion_events) as exhaustion_events,
        max(target_blocking) as target_blocking

    from snapshots
    group by 1, 2

),

days as (

    select company_id, report_date from activity
    union
    select company_id, report_date from pool_sizes

),

final as (

    select
        cast(days.company_id as {{ dbt.type_string() }}) as company_id,
        cast(days.report_date as date) as report_date,
        cast(pool_sizes.pool_size as {{ dbt.type_bigint() }}) as pool_size,
        cast(pool_sizes.recommended_size as {{ dbt.type_bigint() }}) as recommended_size,
        cast(pool_sizes.recommended_size - pool_sizes.pool_size as {{ dbt.type_bigint() }})
            as size_gap,
        cast(pool_sizes.target_blocking as double precision) as target_blocking,
        cast(coalesce(pool_sizes.exhaustion_events, 0) as {{ dbt.type_bigint() }})
            as exhaustion_events,
        cast(coalesce(activity.leases, 0) as {{ dbt.type_bigint() }}) as leases,
        cast(coalesce(activity.shared_leases, 0) as {{ dbt.type_bigint() }}) as shared_leases,
        cast(coalesce(activity.leased_seconds, 0) / 3600.0 as double precision) as leased_hours,
        -- the mean share of the pool held over the day; above 1 when numbers are shared
        {{ safe_ratio('coalesce(activity.leased_seconds, 0)', 'pool_sizes.pool_size * 86400') }}
            as utilisation,
        cast(coalesce(activity.calls, 0) as {{ dbt.type_bigint() }}) as calls,
        cast(coalesce(activity.stray_calls, 0) as {{ dbt.type_bigint() }}) as stray_calls,
        cast(coalesce(activity.no_lease_calls, 0) as {{ dbt.type_bigint() }}) as no_lease_calls,
        cast(coalesce(activity.shared_lease_calls, 0) as {{ dbt.type_bigint() }})
            as shared_lease_calls,
        cast(coalesce(activity.unattributed_calls, 0) as {{ dbt.type_bigint() }})
            as unattributed_calls,
        {{ safe_ratio('activity.unattributed_calls', 'activity.calls') }}
            as unattributed_call_rate

    from days

    left join activity
        on days.company_id = activity.company_id
        and days.report_date = activity.report_date

    left join pool_sizes
        on days.company_id = pool_sizes.company_id
        and days.report_date = pool_sizes.report_date

)

select * from final
