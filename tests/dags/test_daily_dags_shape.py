"""Shape and schedules of the daily DAGs, without running them."""

from __future__ import annotations

from datetime import date

import pendulum
import pytest
from airflow.sdk import CronDataIntervalTimetable
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import DataInterval, TimeRestriction

from dags.callpath_ad_spend import callpath_ad_spend_dag
from dags.callpath_analytics_build import callpath_analytics_build_dag
from dags.callpath_crm_deals import callpath_crm_deals_dag
from dags.callpath_events_extract import callpath_events_extract_dag
from dags.common import RAW_AD_SPEND, RAW_CRM_DEALS, RAW_EVENTS, days_covered, interval_day

MSK = "Europe/Moscow"
SOURCE_DAGS = {
    callpath_events_extract_dag: ("extract", "raw_events_landed", RAW_EVENTS),
    callpath_ad_spend_dag: ("land_spend", "raw_ad_spend_landed", RAW_AD_SPEND),
    callpath_crm_deals_dag: ("land_crm", "raw_crm_deals_landed", RAW_CRM_DEALS),
}


def test_source_dags_run_daily_intervals_in_moscow() -> None:
    d10 = pendulum.datetime(2025, 3, 10, tz=MSK)
    for dag in SOURCE_DAGS:
        assert isinstance(dag.timetable, CronDataIntervalTimetable), dag.dag_id
        assert dag.timetable.expression == "0 0 * * *"
        assert str(dag.timetable.timezone) == MSK
        assert dag.catchup is False and dag.max_active_runs == 1

        core = coerce_to_core_timetable(dag.timetable)
        info = core.next_dagrun_info(
            last_automated_data_interval=DataInterval(d10.subtract(days=1), d10),
            restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
        )
        assert info is not None
        # the scheduled run for 10 March: the interval is the whole local day
        assert (info.data_interval.start, info.data_interval.end) == (d10, d10.add(days=1))
        assert info.run_after == d10.add(days=1)
        # a manual run (and DAG.test) with logical date X processes the last full day
        manual = core.infer_manual_data_interval(run_after=d10.add(days=1))
        assert (manual.start, manual.end) == (d10, d10.add(days=1))


def test_interval_day_is_the_local_calendar_day() -> None:
    # 2025-03-10 00:00 MSK == 2025-03-09 21:00 UTC
    assert interval_day(pendulum.datetime(2025, 3, 9, 21, tz="UTC")) == date(2025, 3, 10)


def test_source_dags_map_over_their_sources_and_emit_their_asset_last() -> None:
    for dag, (mapped, landed, asset) in SOURCE_DAGS.items():
        assert dag.get_task(mapped).is_mapped, dag.dag_id
        assert dag.get_task(mapped).downstream_task_ids == {landed}
        assert dag.get_task(landed).downstream_task_ids == set()
        assert dag.get_task(landed).outlets == [asset]
        # only the final task announces the asset: a failed source blocks the build
        others = [t for t in dag.tasks if t.task_id != landed]
        assert all(not t.outlets for t in others), dag.dag_id


def test_analytics_build_waits_for_all_three_assets_and_gates_before_dbt() -> None:
    dag = callpath_analytics_build_dag
    condition = dag.timetable.asset_condition
    assert {a.name for a in condition.objects} == {
        RAW_EVENTS.name,
        RAW_AD_SPEND.name,
        RAW_CRM_DEALS.name,
    }
    assert type(condition).__name__ == "AssetAll"  # all three, not any
    assert dag.get_task("validate_raw").downstream_task_ids == {"dbt_build"}
    assert dag.get_task("dbt_build").downstream_task_ids == {"publish"}
    assert dag.get_task("publish").upstream_task_ids == {"dbt_build"}


def test_a_build_covers_the_days_of_its_triggering_asset_events() -> None:
    from types import SimpleNamespace

    def event(day: str | None) -> SimpleNamespace:
        return SimpleNamespace(extra={"day": day} if day else {})

    # a backfill of 8..10 March queued three events per source asset
    events = {
        RAW_EVENTS: [event("2025-03-08"), event("2025-03-09"), event("2025-03-10")],
        RAW_AD_SPEND: [event("2025-03-09"), event("2025-03-10"), event(None)],
        RAW_CRM_DEALS: [event("2025-03-10")],
    }
    assert days_covered({}, events) == (date(2025, 3, 8), date(2025, 3, 10))
    # a manual run names its days; conf wins over events
    assert days_covered({"day": "2025-03-05"}, events) == (date(2025, 3, 5), date(2025, 3, 5))
    assert days_covered({"day": "2025-03-05", "from_day": "2025-03-01"}, {}) == (
        date(2025, 3, 1),
        date(2025, 3, 5),
    )
    with pytest.raises(ValueError, match="runs on the source DAGs' asset events"):
        days_covered({}, {RAW_EVENTS: [event(None)]})
