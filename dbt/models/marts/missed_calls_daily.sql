-- Missed-call protection per company and day: inbound calls nobody answered, the
-- callback tasks they opened (one per person while one is open), how many of those an
-- answered call later closed (the person was called back, or rang again and got
-- through), how long that took, and the leads saved: callbacks whose conversation was
-- a target call. Tasks come from the realtime store (realtime/callbacks/service.py) as
-- of the extract of their creation day.

with

missed_calls as (

    select
        company_id,
        call_date as report_date,
        count(*) as missed_calls

    from {{ ref('fct_calls') }}
    where is_inbound and is_missed
    group by 1, 2

),

tasks as (

    select
        company_id,
        task_date as report_date,
        closed_by = 'answered_call' as is_called_back,
        coalesce(closed_by_target_call, false) as is_target_callback,
        case
            when closed_by = 'answered_call'
                then {{ dbt.datediff('created_at', 'done_at', 'second') }} / 60.0
        end as minutes_to_callback

    from {{ ref('stg_callpath__callback_tasks') }}
    where reason = 'missed_call'

),

task_totals as (

    select
        company_id,
        report_date,
        count(*) as callback_tasks,
        sum(case when is_called_back then 1 else 0 end) as called_back,
        {{ median('minutes_to_callback') }} as median_minutes_to_callback,
        sum(case when is_called_back and is_target_callback then 1 else 0 end) as leads_saved

    from tasks
    group by 1, 2

),

days as (

    select company_id, report_date from missed_calls
    union
    select company_id, report_date from task_totals

),

final as (

    select
        cast(days.company_id as {{ dbt.type_string() }}) as company_id,
        cast(days.report_date as date) as report_date,
        cast(coalesce(missed_calls.missed_calls, 0) as {{ dbt.type_bigint() }})
            as missed_calls,
        cast(coalesce(task_totals.callback_tasks, 0) as {{ dbt.type_bigint() }})
            as callback_tasks,
        cast(coalesce(task_totals.called_back, 0) as {{ dbt.type_bigint() }}) as called_back,
        cast(task_totals.median_minutes_to_callback as double precision)
            as median_minutes_to_callback,
        cast(coalesce(task_totals.leads_saved, 0) as {{ dbt.type_bigint() }}) as leads_saved

    from days
    left join missed_calls
        on days.company_id = missed_calls.company_id
        and days.report_date = missed_calls.report_date
    left join task_totals
        on days.company_id = task_totals.company_id
        and days.report_date = task_totals.report_date

)

select * from final
