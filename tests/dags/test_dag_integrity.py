"""Every DAG in dags/ imports cleanly and follows the house rules."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from pipelines.orchestration import DAGS_FOLDER


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_dags_are_found(dagbag: DagBag) -> None:
    assert "callpath_daily" in dagbag.dag_ids


def test_no_cycles(dagbag: DagBag) -> None:
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises AirflowDagCycleException


def test_owner_tags_and_retries(dagbag: DagBag) -> None:
    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                problems.append(f"{dag_id}.{task.task_id}: owner {task.owner!r}")
            if task.retries < 1:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries}")
    assert problems == []
