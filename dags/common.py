"""What every callpath DAG shares: the daily schedule, default_args and run settings.

No DAG is defined here; DAG files import these so each stays a few lines of wiring.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, get_current_context

from realtime.settings import Settings

TIMEZONE: str = Settings().default_timezone

# A real one-day data interval [00:00, next 00:00) local time: a plain cron string in
# Airflow 3 defaults to CronTriggerTimetable, whose runs have zero-length intervals.
DAILY = CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE)
START_DATE = pendulum.datetime(2025, 1, 1, tz=TIMEZONE)

default_args = {
    "owner": "callpath",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}


def run_settings() -> Settings | None:
    """Settings for this run: `dag_run.conf["callpath_settings"]` over CALLPATH_* env.

    Empty conf (scheduled runs) gives None, i.e. the pipelines read the worker's
    CALLPATH_* environment. `run_daily_dag(day, settings)` fills the conf.
    """
    dag_run = get_current_context().get("dag_run")
    overrides = ((dag_run.conf if dag_run else None) or {}).get("callpath_settings")
    return Settings(**overrides) if overrides else None
