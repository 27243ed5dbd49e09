"""Every DAG in dags/ imports cleanly and follows the house rules."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from pipelines.orchestration import DAGS_FOLDER

EXPECTED_DAGS = {
    "callpath_events_extract",
    "callpath_ad_spend",
    "callpath_crm_deals",
    "callpath_analytics_build",
    "callpath_pool_maintenance",
}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_every_dag_is_found(dagbag: DagBag) -> None:
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_no_cycles(dagbag: DagBag) -> None:
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises AirflowDagCycleException


def test_owner_tags_retries_and_failure_alert(dagbag: DagBag) -> None:
    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                problems.append(f"{dag_id}.{task.task_id}: owner {task.owner!r}")
            if task.retries < 1:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries}")
            if not task.on_failure_callback:
                problems.append(f"{dag_id}.{task.task_id}: no on_failure_callback")
    assert problems == []
