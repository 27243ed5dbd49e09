"""The dbt project as an Astronomer Cosmos task group (`CALLPATH_DBT_TASKS=cosmos`).

One Airflow task per dbt model (`<model>.run`) followed by one per model's tests
(`<model>.test`, Cosmos's `TestBehavior.AFTER_EACH`), so a failing model or test is
its own red box in the UI. Executed in-process (`ExecutionMode.LOCAL` with
`InvocationMode.DBT_RUNNER`: dbt's Python API, no subprocess per node). The graph
comes from `dbt ls` when the DAG is parsed (Cosmos caches it).

Not the default: measured under `DAG.test()` it is several times slower than the one
`dbt build` task (figures in docs/orchestration.md). Imported by
`callpath_analytics_build` only when the setting asks for it (so importing dbt and
Cosmos never slows down parsing the default DAG).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from realtime.settings import Settings

# Same values as pipelines.transform, which imports dbt: not needed to build the group.
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"
WAREHOUSE_PATH_ENV = "CALLPATH_WAREHOUSE_PATH"

# Jinja for the warehouse file at run time: the run's settings (conf, as
# pipelines.orchestration passes them) over the worker's CALLPATH_WAREHOUSE_PATH.
_WAREHOUSE_PATH_TEMPLATE = (
    "{{ (dag_run.conf or {}).get('callpath_settings', {}).get('warehouse_path', '%s') }}"
)


def dbt_task_group(group_id: str = "dbt"):
    from cosmos import (
        DbtTaskGroup,
        ExecutionConfig,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
    )
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
    from cosmos.dbt.executable import get_system_dbt

    settings = Settings()
    if settings.warehouse.strip().lower() != "duckdb":
        raise ValueError("CALLPATH_DBT_TASKS=cosmos is wired for the duckdb warehouse only")
    # Cosmos looks for a `dbt` on PATH even in DBT_RUNNER mode: the one beside Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    default_path = str(Path(settings.warehouse_path).resolve())
    # dbt ls (at parse time) reads the profile too; point it at the worker's warehouse.
    os.environ.setdefault(WAREHOUSE_PATH_ENV, default_path)
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(DBT_PROJECT_DIR),
        profile_config=ProfileConfig(
            profile_name="callpath",
            target_name="duckdb",
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_LS,
            test_behavior=TestBehavior.AFTER_EACH,
            invocation_mode=InvocationMode.DBT_RUNNER,
            enable_mock_profile=False,
            dbt_executable_path=get_system_dbt(),
        ),
        operator_args={
            "install_deps": False,
            "env": {WAREHOUSE_PATH_ENV: _WAREHOUSE_PATH_TEMPLATE % default_path},
        },
    )
