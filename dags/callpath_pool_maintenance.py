"""callpath_pool_maintenance: daily number-pool housekeeping.

    sweep  (release bindings idle for CALLPATH_POOL_BINDING_DAYS into quarantine)
    health (warn about regions where >= 80% of a company's bound numbers are leased
            now, or that the sizing advisor finds undersized for the last 24 h)

Thin like the other DAGs: each task calls exactly one function of
`pipelines.pool_maintenance`, imported inside the task.  Same schedule style:
`CronDataIntervalTimetable("0 0 * * *", <company tz>)`; the tasks work on "now",
not on the data interval, so a late or manual run does the same thing.

The health task never fails the run: it logs each warning (`logging.warning`),
sends them as one alert (the log plus CALLPATH_ALERT_WEBHOOK_URL when set) and
returns the list (visible as the task's XCom).  Settings come from
`dag_run.conf["callpath_settings"]` when given, else from CALLPATH_* env.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from dags.common import DAILY, START_DATE, default_args, run_settings

DAG_ID = "callpath_pool_maintenance"
HEALTH_THRESHOLD = 0.8


@dag(
    dag_id=DAG_ID,
    schedule=DAILY,
    start_date=START_DATE,
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
