"""Run callpath_daily end to end with DAG.test() (in-process, SQLite metadata DB).

`test_daily_run_real_pipeline` calls the real `pipelines.daily` on one day of demo
data (`realtime.demo`); the other two swap
in a recording stub to pin down the wiring (which day, which order) and the error
path of `run_daily_dag`.  Each DAG.test() costs ~5 s.
"""

from __future__ import annotations

import sys
import types
from datetime import date
from pathlib import Path

import pendulum
import pytest

import pipelines
from pipelines.orchestration import (
    PipelineRunError,
    execute_daily_dag,
    run_daily_dag,
)
from realtime.settings import Settings

pytestmark = pytest.mark.slow

DAY = date(2025, 3, 10)
MSK = "Europe/Moscow"
PIPELINE_TASKS = ("company_ids", "land_ad_spend", "land_crm_deals", "dbt_build", "publish")


def test_daily_run_real_pipeline(airflow_db: Path, callpath_settings: Settings) -> None:
    from pipelines import daily
    from realtime import demo

    demo.seed(callpath_settings)  # a company, a site, numbers
    demo.simulate_week(callpath_settings, [DAY])  # events + spend/deal CSV fixtures

    result = execute_daily_dag(DAY, callpath_settings)

    assert result.state == "success", result
    assert result.data_interval_start == pendulum.datetime(2025, 3, 10, tz=MSK)
    assert result.data_interval_end == pendulum.datetime(2025, 3, 11, tz=MSK)
    companies = daily.list_company_ids(callpath_settings)
    expected = {task_id: "success" for task_id in PIPELINE_TASKS}
    if companies:
        expected |= {f"extract[{i}]": "success" for i in range(len(companies))}
    else:  # zero mapped instances: Airflow marks the mapped task skipped
        expected["extract"] = "skipped"
    assert result.task_states == expected


class _RecordingDaily(types.ModuleType):
    """Stands in for pipelines.daily; records (function, *args, settings.var_dir or None)."""

    def __init__(self, fail: str | None = None, companies: tuple[str, ...] = ("c1", "c2")) -> None:
        super().__init__("pipelines.daily")
        self.calls: list[tuple] = []
        self.fail = fail
        self.companies = list(companies)

    def _call(self, name: str, *args, settings):
        self.calls.append((name, *args, settings.var_dir if settings else None))
        if name == self.fail:
            raise RuntimeError(f"{name} exploded")

    def list_company_ids(self, settings=None):
        self._call("list_company_ids", settings=settings)
        return self.companies

    def run_extract(self, company_id, day, settings=None):
        self._call("run_extract", company_id, day, settings=settings)
        return {"calls": 1}

    def run_land_ad_spend(self, day, settings=None):
        self._call("run_land_ad_spend", day, settings=settings)
        return 1

    def run_land_crm_deals(self, day, settings=None):
        self._call("run_land_crm_deals", day, settings=settings)
        return 1

    def run_dbt_build(self, settings=None):
        self._call("run_dbt_build", settings=settings)

    def run_publish(self, day, settings=None):
        self._call("run_publish", day, settings=settings)
        return {"published": True}


@pytest.fixture
def stub_daily(monkeypatch: pytest.MonkeyPatch):
    def install(**kwargs) -> _RecordingDaily:
        stub = _RecordingDaily(**kwargs)
        monkeypatch.setitem(sys.modules, "pipelines.daily", stub)
        monkeypatch.setattr(pipelines, "daily", stub, raising=False)
        return stub

    return install


def test_tasks_get_the_day_in_order(airflow_db: Path, stub_daily, tmp_path: Path) -> None:
    stub = stub_daily()
    settings = Settings(var_dir=tmp_path / "elsewhere")

    assert run_daily_dag(DAY, settings) == "success"

    var = settings.var_dir
    calls = stub.calls
    assert calls[0] == ("list_company_ids", var)
    assert sorted(calls[1:3]) == [("run_extract", "c1", DAY, var), ("run_extract", "c2", DAY, var)]
    assert calls[3:] == [
        ("run_land_ad_spend", DAY, var),
        ("run_land_crm_deals", DAY, var),
        ("run_dbt_build", var),
        ("run_publish", DAY, var),
    ]


def test_failed_run_names_the_failed_task(airflow_db: Path, stub_daily) -> None:
    stub = stub_daily(fail="run_land_crm_deals")

    with pytest.raises(PipelineRunError, match="land_crm_deals") as excinfo:
        run_daily_dag(DAY)  # retries are off for DAG.test(): fails fast
    assert {call[-1] for call in stub.calls} == {None}  # no settings given: tasks read env

    err = excinfo.value
    assert err.state == "failed"
    assert err.failed_task_ids == ["land_crm_deals"]
    assert err.upstream_failed_task_ids == ["dbt_build", "publish"]
    assert err.result.task_states["extract[1]"] == "success"


def test_no_companies_still_lands_builds_and_publishes(airflow_db: Path, stub_daily) -> None:
    stub = stub_daily(companies=())

    result = execute_daily_dag(DAY)

    assert result.state == "success"
    assert result.task_states["extract"] == "skipped"  # zero mapped instances
    assert [call[0] for call in stub.calls] == [
        "list_company_ids",
        "run_land_ad_spend",
        "run_land_crm_deals",
        "run_dbt_build",
        "run_publish",
    ]
