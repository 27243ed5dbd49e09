"""callpath_pool_maintenance: daily number-pool housekeeping.

    sweep  (release bindings idle for CALLPATH_POOL_BINDING_DAYS into quarantine)
    health (warn about regions where >= 80% of a company's bound numbers are leased)

Thin like `callpath_daily`: each task calls exactly one function of
`pipelines.pool_maintenance`, imported inside the task.  Same schedule style:
`CronDataIntervalTimetable("0 0 * * *", <company tz>)`; the tasks work on "now",
not on the data interval, so a late or manual run does the same thing.

The health task never fails the run: it logs each warning (`logging.warning`) and
returns the list (visible as the task's XCom).  Settings come from
`dag_run.conf["callpath_settings"]` when given, else from CALLPATH_* env.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from realtime.settings import Settings

DAG_ID = "callpath_pool_maintenance"
TIMEZONE: str = Settings().default_timezone
HEALTH_THRESHOLD = 0.8


def run_settings() -> Settings | None:
    """`dag_run.conf["callpath_settings"]` over CALLPATH_* env (None: use the env)."""
    dag_run = get_current_context().get("dag_run")
    overrides = ((dag_run.conf if dag_run else None) or {}).get("callpath_settings")
    return Settings(**overrides) if overrides else None


default_args = {
    "owner": "callpath",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}


@dag(
    dag_id=DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "daily", "pool"],
    doc_md=__doc__,
)
def callpath_pool_maintenance() -> None:
    @task
    def sweep() -> list[dict]:
        from pipelines import pool_maintenance

        return pool_maintenance.run_pool_sweep(run_settings())

    @task
    def health() -> list[str]:
        from pipelines import pool_maintenance

        return pool_maintenance.check_pool_health(run_settings(), HEALTH_THRESHOLD)

    sweep() >> health()


callpath_pool_maintenance_dag = callpath_pool_maintenance()
