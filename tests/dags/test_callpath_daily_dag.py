"""Shape and schedule of callpath_daily, without running it."""

from __future__ import annotations

from datetime import date

import pendulum
from airflow.sdk import CronDataIntervalTimetable
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import DataInterval, TimeRestriction

from dags.callpath_daily import callpath_daily_dag as dag
from dags.callpath_daily import interval_day

MSK = "Europe/Moscow"


def test_schedule_is_daily_intervals_in_moscow() -> None:
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert str(dag.timetable.timezone) == MSK
    assert dag.catchup is False
    assert dag.max_active_runs == 1

    core = coerce_to_core_timetable(dag.timetable)
    d10 = pendulum.datetime(2025, 3, 10, tz=MSK)
    info = core.next_dagrun_info(
        last_automated_data_interval=DataInterval(d10.subtract(days=1), d10),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert info is not None
    # the scheduled run for 10 March: logical date = interval start, interval = the whole day
    assert (info.logical_date, info.data_interval.start, info.data_interval.end) == (
        d10,
        d10,
        d10.add(days=1),
    )
    assert info.run_after == d10.add(days=1)
    # a manual run (and DAG.test) with logical date X processes the last full day before X
    manual = core.infer_manual_data_interval(run_after=d10.add(days=1))
    assert (manual.start, manual.end) == (d10, d10.add(days=1))


def test_interval_day_is_the_local_calendar_day() -> None:
    # 2025-03-10 00:00 MSK == 2025-03-09 21:00 UTC
    assert interval_day(pendulum.datetime(2025, 3, 9, 21, tz="UTC")) == date(2025, 3, 10)


def test_task_order() -> None:
    def downstream(task_id: str) -> set[str]:
        return dag.get_task(task_id).downstream_task_ids

    assert downstream("company_ids") == {"extract"}
    assert downstream("extract") == {"land_ad_spend"}
    assert downstream("land_ad_spend") == {"land_crm_deals"}
    assert downstream("land_crm_deals") == {"dbt_build"}
    assert downstream("dbt_build") == {"publish"}
    assert downstream("publish") == set()
    assert dag.get_task("extract").is_mapped
