"""Pool maintenance: the two task functions on a real SQLite pool, and one DAG.test()."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.pool_maintenance import check_pool_health, run_pool_sweep
from realtime.domain import Company, utcnow
from realtime.pool.models import InventoryNumber
from realtime.pool.sqlite import SQLitePoolStore
from realtime.settings import Settings
from realtime.store import open_event_store


def _pool(settings: Settings) -> SQLitePoolStore:
    return SQLitePoolStore(Path(settings.pool_store_url.removeprefix("sqlite:///")))


def _company(settings: Settings, company_id: str = "acme") -> None:
    store = open_event_store(settings)
    try:
        store.create_company(Company(id=company_id, name=company_id.title()))
    finally:
        store.close()


def _seed_idle_binding(settings: Settings) -> str:
    """One number bound to acme by a lease that ended 15 days ago."""
    pool = _pool(settings)
    try:
        pool.import_numbers([InventoryNumber(number="+74950000001", region="RU-MOW")])
        then = utcnow() - timedelta(days=15)
        grant = pool.acquire("acme", "s-old", ["RU-MOW"], then, then + timedelta(minutes=30), True)
    finally:
        pool.close()
    assert grant.outcome == "grown"
    return grant.number


def _seed_busy_region(settings: Settings) -> None:
    """Two RU-SPE numbers bound to acme, both leased right now."""
    pool = _pool(settings)
    try:
        pool.import_numbers(
            [InventoryNumber(number=f"+7812000000{i}", region="RU-SPE") for i in (1, 2)]
        )
        now = utcnow()
        for session in ("s1", "s2"):
            pool.acquire("acme", session, ["RU-SPE"], now, now + timedelta(hours=1), False)
    finally:
        pool.close()


def test_sweep_releases_a_binding_idle_15_days(callpath_settings: Settings) -> None:
    number = _seed_idle_binding(callpath_settings)

    released = run_pool_sweep(callpath_settings)

    assert [(r["number"], r["company_id"]) for r in released] == [(number, "acme")]
    pool = _pool(callpath_settings)
    try:
        state = pool.state(number)
    finally:
        pool.close()
    assert state is not None and state.company_id is None and state.quarantine_until is not None
    assert run_pool_sweep(callpath_settings) == []  # nothing left to release


def test_busy_region_yields_a_health_warning(
    callpath_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _company(callpath_settings)
    _seed_busy_region(callpath_settings)
    _seed_idle_binding(callpath_settings)  # RU-MOW: bound, not leased now -> 0%

    with caplog.at_level(logging.WARNING):
        found = check_pool_health(callpath_settings, threshold=0.8)

    assert len(found) == 1
    assert found[0].startswith("acme RU-SPE: 2/2")
    assert found[0] in caplog.text
    assert check_pool_health(callpath_settings, threshold=1.01) == []


def test_traffic_above_the_advisors_size_for_a_day_is_alerted(
    callpath_settings: Settings, alert_receiver
) -> None:
    """60 sessions an hour holding a number 30 min each is 30 erlangs: far more than
    the 2 numbers bound in RU-SPE, so the advisor's size is above the pool's."""
    from realtime.domain import Lease

    receiver, url = alert_receiver
    settings = callpath_settings.model_copy(update={"alert_webhook_url": url})
    _company(settings)
    _seed_busy_region(settings)
    store = open_event_store(settings)
    try:
        start = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        for i in range(60):
            leased_from = start + timedelta(minutes=i)
            store.save_lease(
                Lease(
                    id=f"l{i}",
                    company_id="acme",
                    number=f"+7812000000{1 + i % 2}",
                    session_id=f"s{i}",
                    leased_from=leased_from,
                    last_seen_at=leased_from,
                    leased_until=leased_from + timedelta(minutes=30),
                )
            )
    finally:
        store.close()

    found = check_pool_health(settings, threshold=1.01)  # only the advisor's verdict

    assert len(found) == 1
    assert found[0].startswith("acme RU-SPE: undersized for the last 24 h")
    assert "(30.00 erlangs, peak 60 sessions/h" in found[0]
    assert "2 bound" in found[0]
    [alert] = receiver.received
    assert alert["kind"] == "pool_health" and alert["warnings"] == found


def test_quiet_pool_has_no_warnings(callpath_settings: Settings) -> None:
    _company(callpath_settings)
    assert check_pool_health(callpath_settings) == []


@pytest.mark.slow
def test_dag_run_sweeps_and_checks(airflow_db: Path, callpath_settings: Settings) -> None:
    from airflow.utils.session import create_session

    from dags.callpath_pool_maintenance import callpath_pool_maintenance

    _company(callpath_settings)
    number = _seed_idle_binding(callpath_settings)
    _seed_busy_region(callpath_settings)

    dag = callpath_pool_maintenance()
    for task in dag.tasks:
        task.retries = 0  # DAG.test() would otherwise wait out retry_delay on failure
    conf = {"callpath_settings": callpath_settings.model_dump(mode="json")}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        dag_run = dag.test(run_conf=conf)

    with create_session() as session:
        states = {
            ti.task_id: str(getattr(ti.state, "value", ti.state))
            for ti in dag_run.get_task_instances(session=session)
        }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success", states
    assert states == {"sweep": "success", "health": "success"}
    pool = _pool(callpath_settings)
    try:
        assert pool.state(number).company_id is None  # released by the sweep task
    finally:
        pool.close()
