"""callpath_daily: the nightly batch, one run per calendar day in the company time zone.

    company_ids -> extract[company_id, ...] -> land_ad_spend -> land_crm_deals
                -> dbt_build -> publish

The DAG is deliberately thin: every task calls exactly one function of
`pipelines.daily` and passes it the run's day (and settings, see `run_settings`).
All logic (and all heavy imports: duckdb, dbt, connectors) lives there and is
imported inside the tasks, so parsing this file stays cheap and cannot fail
because a pipeline dependency is broken.

Schedule: `CronDataIntervalTimetable("0 0 * * *", <company tz>)` gives each run a
real one-day data interval [00:00, next 00:00) local time; the run for day D starts
right after D ends.  (A plain cron string in Airflow 3 defaults to
`CronTriggerTimetable`, whose scheduled runs have zero-length data intervals.)
The day handed to the pipeline is `data_interval_start` in that time zone.

`pipelines.orchestration.run_daily_dag(day)` runs this DAG in-process for one day.
"""

from __future__ import annotations

from datetime import date

import pendulum
from airflow.sdk import TriggerRule, dag, get_current_context, task

from dags.common import DAILY, START_DATE, TIMEZONE, default_args, run_settings

DAG_ID = "callpath_daily"


def interval_day(data_interval_start: pendulum.DateTime | None = None) -> date:
    """The calendar day (in `TIMEZONE`) whose data this run processes."""
    if data_interval_start is None:
        data_interval_start = get_current_context().get("data_interval_start")
    if data_interval_start is None:
        raise ValueError(
            f"{DAG_ID} needs a data interval: trigger it with a logical date "
            "(a run for day D needs logical date D+1 00:00 when triggered manually)"
        )
    return pendulum.instance(data_interval_start).in_timezone(TIMEZONE).date()


@dag(
    dag_id=DAG_ID,
    schedule=DAILY,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "daily", "warehouse"],
    doc_md=__doc__,
)
def callpath_daily() -> None:
    @task
    def company_ids() -> list[str]:
        from pipelines import daily

        return daily.list_company_ids(run_settings())

    @task(map_index_template="{{ task.op_kwargs['company_id'] }}")
    def extract(company_id: str) -> dict[str, int]:
        from pipelines import daily

        return daily.run_extract(company_id, interval_day(), run_settings())

    # Runs even when there are no companies (zero mapped extracts => "skipped").
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def land_ad_spend() -> int:
        from pipelines import daily

        return daily.run_land_ad_spend(interval_day(), run_settings())

    @task
    def land_crm_deals() -> int:
        from pipelines import daily

        return daily.run_land_crm_deals(interval_day(), run_settings())

    @task
    def dbt_build() -> None:
        from pipelines import daily

        daily.run_dbt_build(run_settings())

    @task
    def publish() -> dict:
        from pipelines import daily

        return daily.run_publish(interval_day(), run_settings())

    extracted = extract.expand(company_id=company_ids())
    extracted >> land_ad_spend() >> land_crm_deals() >> dbt_build() >> publish()


callpath_daily_dag = callpath_daily()
