"""`CALLPATH_DBT_TASKS=cosmos`: the build DAG renders the dbt project as Cosmos tasks.

Only the rendering (Cosmos runs `dbt ls` on the real project); running every node
under DAG.test() takes minutes (figures in docs/orchestration.md), which is why the
option is not the default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.settings import Settings

pytestmark = pytest.mark.slow


def test_cosmos_option_gives_a_task_per_model_between_the_gate_and_publish(
    airflow_db: Path, callpath_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # airflow_db: Cosmos caches the `dbt ls` result in an Airflow Variable.
    from dags import callpath_analytics_build as module

    monkeypatch.setattr(module, "DBT_TASKS", "cosmos")
    dag = module.callpath_analytics_build()

    task_ids = set(dag.task_ids)
    assert {"dbt.e2e_daily.run", "dbt.e2e_daily.test"} <= task_ids
    models = {t.split(".")[1] for t in task_ids if t.startswith("dbt.") and t.endswith(".run")}
    assert len(models) >= 10  # staging, intermediate and marts, one task each
    # the gate comes first, publish last: nothing of dbt runs before validate_raw
    first_dbt = dag.get_task("validate_raw").downstream_task_ids
    assert first_dbt and all(t.startswith("dbt.") for t in first_dbt)
    assert dag.get_task("publish").upstream_task_ids <= task_ids
    assert all(t.startswith("dbt.") for t in dag.get_task("publish").upstream_task_ids)
    assert "dbt.e2e_daily.test" in dag.get_task("publish").upstream_task_ids
