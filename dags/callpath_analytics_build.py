"""callpath_analytics_build: quality gate -> dbt -> publish, when raw has new data.

    validate_raw -> dbt_build -> publish (asset callpath_published_marts) -> dashboard

Scheduled on the three raw assets: a run starts once `callpath_events_extract`,
`callpath_ad_spend` and `callpath_crm_deals` have each landed since the last build.
It covers the days of the triggering asset events, one or several (a backfill);
a manual run names them in `conf` (`{"day": last, "from_day": first}`, see
`dags.common.build_days`).

- `validate_raw` (`pipelines.validate`): Great Expectations suites on the day's
  landings of those days. A failed check fails the task with a message naming the check and the
  offending rows (HTML report under `<var_dir>/validation/<run_id>/`), so dbt and
  publish never run and the published marts stay as they were.
- `dbt_build` (`pipelines.transform.dbt_build`): one `dbt build` (run + test) into the
  build schema. With `CALLPATH_DBT_TASKS=cosmos` it is an Astronomer Cosmos task group
  instead, one task per model and test (slower; figures in docs/orchestration.md).
- `publish` (`pipelines.publish`): copies the built marts into `published` in one
  transaction, so readers see yesterday's marts or today's, never a mix.
- `dashboard` (`pipelines.dashboard`): redraws the offline HTML dashboard
  (`CALLPATH_DASHBOARD_PATH`) from what was just published.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from dags.common import (
    PUBLISHED_MARTS,
    RAW_AD_SPEND,
    RAW_CRM_DEALS,
    RAW_EVENTS,
    START_DATE,
    build_days,
    default_args,
    run_settings,
)
from realtime.settings import Settings

DAG_ID = "callpath_analytics_build"
DBT_TASKS = Settings().dbt_tasks


@dag(
    dag_id=DAG_ID,
    schedule=(RAW_EVENTS & RAW_AD_SPEND & RAW_CRM_DEALS),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "warehouse", "dbt", "quality"],
    doc_md=__doc__,
)
def callpath_analytics_build() -> None:
    @task
    def validate_raw() -> dict:
        from pipelines import daily

        first, last = build_days()
        return daily.run_validate(first, last, run_settings(), get_current_context()["run_id"])

    @task
    def dbt_build() -> None:
        from pipelines import daily

        daily.run_dbt_build(run_settings())

    @task(outlets=[PUBLISHED_MARTS])
    def publish() -> dict:
        from pipelines import daily

        return daily.run_publish(build_days()[1], run_settings())

    @task
    def dashboard() -> str:
        from pipelines import daily

        return daily.run_dashboard(run_settings())

    if DBT_TASKS == "cosmos":
        from pipelines.dbt_cosmos import dbt_task_group

        transform = dbt_task_group()
    else:
        transform = dbt_build()
    validate_raw() >> transform >> publish() >> dashboard()


callpath_analytics_build_dag = callpath_analytics_build()
