"""Run the dbt project in `dbt/` (raw -> staging -> marts) from Python.

Airflow tasks and tests call `dbt_build` instead of shelling out to the `dbt` CLI,
so a failure arrives as a typed exception that names the failing models and tests.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbt.adapters.factory import cleanup_connections
from dbt.cli.main import dbtRunner

# The project sits in the repository next to this package, not in the installed
# package data: locate it from this file so any working directory works.
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"

WAREHOUSE_PATH_ENV = "CALLPATH_WAREHOUSE_PATH"

# libpq connection keyword -> the variable dbt/profiles.yml's `postgres` target reads.
_POSTGRES_PROFILE_ENV = {
    "host": "CALLPATH_POSTGRES_HOST",
    "port": "CALLPATH_POSTGRES_PORT",
    "user": "CALLPATH_POSTGRES_USER",
    "password": "CALLPATH_POSTGRES_PASSWORD",
    "dbname": "CALLPATH_POSTGRES_DBNAME",
    "sslmode": "CALLPATH_POSTGRES_SSLMODE",
}

# dbt statuses that mean a node did not do its job. "warn" tests pass on purpose
# (severity: warn); "skipped" nodes are a consequence of some failure already listed.
_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeResult:
    """How one dbt node (model, data test, unit test) ended."""

    unique_id: str
    status: str
    message: str | None


@dataclass(frozen=True)
class DbtBuildResult:
    """A successful `dbt build`: every node that ran, in dbt's order."""

    target: str
    nodes: tuple[NodeResult, ...]

    @property
    def failures(self) -> tuple[NodeResult, ...]:
        return tuple(node for node in self.nodes if node.status in _FAILED_STATUSES)


class DbtBuildError(RuntimeError):
    """`dbt build` did not succeed; `failures` lists the nodes that failed and why."""

    def __init__(self, failures: tuple[NodeResult, ...], detail: str | None = None) -> None:
        self.failures = failures
        if failures:
            lines = [f"dbt build failed: {len(failures)} node(s) failed"]
        else:
            lines = ["dbt build failed"]
        lines += [f"  {node.unique_id}: {node.message or node.status}" for node in failures]
        if detail:
            lines.append(f"  {detail}")
        super().__init__("\n".join(lines))


def dbt_build(
    warehouse_path: Path,
    target: str = "duckdb",
    select: str | None = None,
    vars: dict | None = None,
    env: Mapping[str, str] | None = None,
    unit_tests: bool = True,
) -> DbtBuildResult:
    """Build (run + test) the dbt project against `target`.

    `unit_tests=False` leaves out dbt's unit tests, as dbt Labs advise for
    production: they test the SQL on fixed rows, not the data, so CI (where they
    run) has already said all they can say.

    `warehouse_path` is the DuckDB file; the profile reads it from
    CALLPATH_WAREHOUSE_PATH, which is set here only for the duration of the run,
    like any extra variables in `env` (see `postgres_profile_env`).
    Raises DbtBuildError naming every failing node.
    """
    # Compiled SQL, manifest and logs go beside the warehouse, not into dbt/target:
    # two builds at once (an Airflow worker and a test run, two tests) would otherwise
    # overwrite each other's manifest mid-run. Each warehouse keeps its own partial
    # parse cache, so repeated builds of one warehouse stay fast.
    artifacts_dir = dbt_artifacts_dir(warehouse_path, target)
    args = [
        "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", target,
        "--target-path", str(artifacts_dir / "target"),
        "--log-path", str(artifacts_dir / "logs"),
        # Only warnings and errors on the console; the full log is in
        # <warehouse>.dbt-<target>/logs/dbt.log, and a failure raises DbtBuildError
        # naming every failed node anyway.
        "--log-level", "warn",
    ]  # fmt: skip
    if select:
        args += ["--select", select]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if vars:
        # dbt parses --vars as YAML, and JSON is YAML that keeps values typed.
        args += ["--vars", json.dumps(vars)]

    run_env = {WAREHOUSE_PATH_ENV: str(Path(warehouse_path).resolve()), **(env or {})}
    with _env(run_env):
        try:
            outcome = dbtRunner().invoke(args)
        finally:
            _release_connections()

    if outcome.result is None:
        # dbt stopped before running any node (bad profile, parse or compile error).
        raise DbtBuildError((), detail=str(outcome.exception or "dbt did not run"))

    nodes = tuple(
        NodeResult(
            unique_id=result.node.unique_id,
            status=str(result.status),
            message=result.message,
        )
        for result in outcome.result.results
    )
    built = DbtBuildResult(target=target, nodes=nodes)
    if built.failures or not outcome.success:
        raise DbtBuildError(built.failures, detail=_exception_text(outcome.exception))
    return built


def dbt_artifacts_dir(warehouse_path: Path, target: str) -> Path:
    """Where one warehouse's dbt artifacts (manifest, run_results, logs) live."""
    warehouse = Path(warehouse_path).resolve()
    return warehouse.parent / f"{warehouse.stem}.dbt-{target}"


def _release_connections() -> None:
    """Close what dbt leaves open in this process after a run.

    dbt-duckdb keeps one DuckDB database per process open after `invoke` returns;
    the next step (publish, a test) opening the same file would then fail with
    "Can't open a connection to same database file with a different configuration".
    """
    cleanup_connections()
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing of it to close
        return
    DuckDBConnectionManager.close_all_connections()  # drops the shared environment...
    gc.collect()  # ...whose finaliser closes the database; don't wait for the collector


def _exception_text(exception: BaseException | None) -> str | None:
    return None if exception is None else f"{type(exception).__name__}: {exception}"


def postgres_profile_env(dsn: str) -> dict[str, str]:
    """CALLPATH_POSTGRES_* values for the dbt `postgres` target, from a libpq DSN.

    Settings hold one DSN (CALLPATH_WAREHOUSE_POSTGRES_DSN) that the pipelines connect
    with; dbt cannot take a DSN or a connection, only a profile, and the profile reads
    its fields from the environment. Deriving them here keeps the DSN the single source
    of truth, so dbt always builds in the database the pipelines landed into. Keys the
    DSN leaves out keep the profile's defaults (or whatever the environment has).
    """
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    return {
        env_name: str(params[key])
        for key, env_name in _POSTGRES_PROFILE_ENV.items()
        if params.get(key) not in (None, "")
    }


@contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables and restore their previous state afterwards.

    dbt reads its profile through `env_var()` only, so this is how a run gets its
    connection details; restoring them keeps runs in one process independent."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
