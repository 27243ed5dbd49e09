"""Run the callpath Airflow DAGs in-process, with no Airflow installation to set up.

`run_days(days)` (and `run_day(day)`) is the whole API: it prepares an embedded
Airflow (home `<var_dir>/airflow`, SQLite metadata DB, DAGs from this repo's `dags/`),
migrates the metadata DB if needed and runs, with `DAG.test()`, the three source DAGs
for each day, then one `callpath_analytics_build` over the days (what the scheduler
does once the three assets have been updated). Every task runs in this process, one
after another, no scheduler / executor / API server. The first DagRun that fails
stops everything after it. `execute_dag` runs one DAG for one day.

Why the environment must be set before `import airflow`: importing the `airflow`
package runs `airflow.settings.initialize()`, which reads AIRFLOW_HOME and the
`AIRFLOW__*` variables once, creates the SQLAlchemy engine for
`[database] sql_alchemy_conn` and configures logging.  Changing the variables
afterwards has no effect in that process.  So this module imports nothing from
Airflow at import time (importing it is cheap, and safe for code that never runs
the DAG) and sets the variables just before the first Airflow import.  If Airflow
was already imported (a test session, an Airflow worker) the existing
configuration is used as is.

Cost (apache-airflow 3.3.2, measured on a laptop-class VM): `import airflow` ~2.5 s;
creating a fresh metadata DB ~1.4 s (skipped afterwards via a marker file);
`DAG.test()` ~4-5 s of fixed overhead (DAG bundle sync ~0.3 s, then ~3 s for the
in-process Execution API to come up on the first task) plus ~50 ms per task instance
on top of the work the tasks themselves do.

Day <-> run mapping: the source DAGs use `CronDataIntervalTimetable("0 0 * * *", tz)`. A
scheduled run for day D has logical date D 00:00 and the interval [D, D+1).  But
`DAG.test(logical_date=X)` (like any manual trigger) infers the data interval as the
last *complete* interval before X, so to process day D we pass X = (D+1) 00:00 in
the DAG's time zone; the tasks then see data_interval_start = D 00:00.
`callpath_analytics_build` is asset-scheduled (no data interval): it gets its days
in `conf` (`{"day": last, "from_day": first}`), as a manual trigger would.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from realtime.settings import Settings, get_settings

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)

SOURCE_DAG_IDS = ("callpath_events_extract", "callpath_ad_spend", "callpath_crm_deals")
BUILD_DAG_ID = "callpath_analytics_build"
DAILY_DAG_IDS = (*SOURCE_DAG_IDS, BUILD_DAG_ID)
DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"
_MIGRATION_MARKER = ".callpath-db-migrated"
_FAILED_STATES = frozenset({"failed"})
_NOT_RUN_STATES = frozenset({"upstream_failed"})

_migrated_in_process: set[str] = set()


class PipelineRunError(RuntimeError):
    """A DagRun of the day did not succeed; `result` is that run."""

    def __init__(self, result: DagRunResult) -> None:
        self.result = result
        self.dag_id = result.dag_id
        self.day = result.day
        self.state = result.state
        self.failed_task_ids = result.failed_task_ids
        self.upstream_failed_task_ids = result.upstream_failed_task_ids
        msg = f"{result.dag_id} for {result.day} ended {result.state!r}"
        if self.failed_task_ids:
            msg += f"; failed tasks: {', '.join(self.failed_task_ids)}"
        if self.upstream_failed_task_ids:
            msg += f"; not run (upstream failed): {', '.join(self.upstream_failed_task_ids)}"
        super().__init__(msg)


@dataclass(frozen=True)
class DagRunResult:
    """Outcome of one DagRun, detached from Airflow's ORM objects."""

    dag_id: str
    day: date
    state: str
    run_id: str
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    # "task_id" for plain tasks, "task_id[map_index]" for mapped ones -> TI state
    task_states: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    @property
    def failed_task_ids(self) -> list[str]:
        return sorted(k for k, s in self.task_states.items() if s in _FAILED_STATES)

    @property
    def upstream_failed_task_ids(self) -> list[str]:
        return sorted(k for k, s in self.task_states.items() if s in _NOT_RUN_STATES)


def airflow_home(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return (Path(settings.var_dir) / "airflow").resolve()


def airflow_env(home: Path) -> dict[str, str]:
    """The variables that make an embedded, self-contained Airflow in `home`."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Cosmos (installed, so loaded as a plugin) reads this on import and warns
        # on every run when it is missing; we emit no OpenLineage events either way.
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "callpath",
    }


def configure_airflow(settings: Settings | None = None, *, quiet: bool = False) -> Path:
    """Point Airflow at `<var_dir>/airflow` unless Airflow is already imported.

    Must run before the first `import airflow` of the process (see module docstring).
    The core variables are always overwritten, so an AIRFLOW_* setup meant for a
    real deployment in the caller's shell is never touched by the embedded runner.
    `quiet` lowers Airflow's log level to WARNING unless the caller chose one.
    Returns the AIRFLOW_HOME in effect.
    """
    if "airflow" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        return Path(AIRFLOW_HOME)
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(home))
    if quiet:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        # Airflow's provider discovery imports Cosmos, which warns at import that the
        # OpenLineage provider is missing. The embedded runner emits no lineage, so in
        # the demo's output that line is only noise; any other Cosmos warning stays.
        logging.getLogger("cosmos.operators.local").addFilter(_without_openlineage_hint)
    return home


def _without_openlineage_hint(record: logging.LogRecord) -> bool:
    return "install apache-airflow-providers-openlineage" not in record.getMessage()


def ensure_airflow_db() -> None:
    """Create / migrate the metadata DB once (same as `airflow db migrate`), idempotent.

    `airflow.utils.db.upgradedb()` creates a new DB straight from the ORM or runs
    Alembic migrations on an old one; even a no-op costs ~1.3 s, so a marker file
    in AIRFLOW_HOME (Airflow version + DB URL) lets later processes skip it.
    """
    from airflow import settings as af_settings
    from airflow.configuration import AIRFLOW_HOME
    from airflow.version import version

    conn = str(af_settings.SQL_ALCHEMY_CONN)
    if conn in _migrated_in_process:
        return
    marker = Path(AIRFLOW_HOME) / _MIGRATION_MARKER
    stamp = f"{version}\n{conn}\n"
    db_file = Path(conn.removeprefix("sqlite:///")) if conn.startswith("sqlite:///") else None
    up_to_date = (
        marker.is_file() and marker.read_text() == stamp and (db_file is None or db_file.is_file())
    )
    if not up_to_date:
        from airflow.utils import db

        db.upgradedb()
        marker.write_text(stamp)
    _migrated_in_process.add(conn)


def load_dag(dag_id: str) -> DAG:
    """A fresh DAG object built from `dags/<dag_id>.py` (needs Airflow configured)."""
    import importlib

    module = importlib.import_module(f"dags.{dag_id}")
    return getattr(module, dag_id)()


def execute_dag(
    dag_id: str,
    day: date,
    settings: Settings | None = None,
    *,
    retries: int = 0,
    from_day: date | None = None,
) -> DagRunResult:
    """Run DAG `dag_id` for `day` with `DAG.test()`; return the outcome, never raise on
    task failure. `from_day` (the build DAG only): the build covers `from_day`..`day`.

    `settings` (if given) travel in `dag_run.conf["callpath_settings"]`, and every task
    hands them to `pipelines.daily`; without them the tasks read CALLPATH_* as usual.
    `retries` overrides the DAG's retries for this run: `DAG.test()` honours
    `retries`/`retry_delay` by polling until the delay has passed, so with the
    production default_args a failing task would block for ~10 minutes.
    """
    configure_airflow(settings, quiet=True)
    import pendulum

    ensure_airflow_db()
    dag = load_dag(dag_id)
    for task in dag.tasks:
        task.retries = retries
    tz = pendulum.timezone(
        settings.default_timezone if settings else get_settings().default_timezone
    )
    timetable_tz = getattr(dag.timetable, "timezone", None)
    day_start = pendulum.datetime(day.year, day.month, day.day, tz=timetable_tz or tz)
    conf: dict = {"day": day.isoformat(), "from_day": (from_day or day).isoformat()}
    if settings:
        conf["callpath_settings"] = settings.model_dump(mode="json")
    with warnings.catch_warnings():
        # Airflow's in-process Execution API client imports fastapi.testclient
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        # logical date = end of the day's interval: see "Day <-> run mapping" above.
        dag_run = dag.test(logical_date=day_start.add(days=1), run_conf=conf)
    result = _result(dag_id, day, dag_run)

    if timetable_tz is not None and result.data_interval_start is not None:
        got = pendulum.instance(result.data_interval_start).in_timezone(timetable_tz).date()
        if got != day:  # would mean the timetable changed under us
            raise RuntimeError(f"{dag_id}: asked for {day}, Airflow ran the interval of {got}")
    return result


def run_days(
    days: list[date],
    settings: Settings | None = None,
    on_dag_done: Callable[[DagRunResult], None] | None = None,
) -> list[DagRunResult]:
    """Run the daily DAGs for `days` in this process: the source DAGs for each day in
    order, then one `callpath_analytics_build` over all of them.

    That is what the scheduler does after a backfill of the source DAGs: one build
    run consumes every queued asset event, validates all their days and rebuilds the
    marts once (each build rebuilds everything from raw). Raises `PipelineRunError`
    (naming the DAG and its failed tasks) at the first run that did not succeed; the
    later DAGs do not run, so nothing is published. `on_dag_done` is called after each
    successful DagRun (progress bars).
    """
    if not days:
        return []
    days = sorted(days)
    results = []

    def run(dag_id: str, day: date, from_day: date | None = None) -> None:
        result = execute_dag(dag_id, day, settings, from_day=from_day)
        if not result.succeeded:
            raise PipelineRunError(result)
        results.append(result)
        if on_dag_done is not None:
            on_dag_done(result)

    for day in days:
        for dag_id in SOURCE_DAG_IDS:
            run(dag_id, day)
    run(BUILD_DAG_ID, days[-1], from_day=days[0])
    return results


def run_day(
    day: date,
    settings: Settings | None = None,
    on_dag_done: Callable[[DagRunResult], None] | None = None,
) -> list[DagRunResult]:
    """Run every daily DAG for `day` (`run_days([day])`)."""
    return run_days([day], settings, on_dag_done)


def _result(dag_id: str, day: date, dag_run) -> DagRunResult:
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        task_states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): _value(ti.state)
            for ti in tis
        }
    return DagRunResult(
        dag_id=dag_id,
        day=day,
        state=_value(dag_run.state),
        run_id=dag_run.run_id,
        data_interval_start=dag_run.data_interval_start,
        data_interval_end=dag_run.data_interval_end,
        task_states=task_states,
    )


def _value(state) -> str:
    return "none" if state is None else str(getattr(state, "value", state))
