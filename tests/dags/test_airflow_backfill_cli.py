"""`airflow backfill create` (the documented command) plans one run per local day.

Runs the real Airflow CLI against the session's throwaway AIRFLOW_HOME: the DAGs are
serialized into its metadata DB (`airflow dags reserialize`, as the dag-processor does),
then a dry-run backfill lists the runs it would create. With time-zone-aware dates,
8..10 March Moscow time are three runs whose data intervals are those days.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest

from pipelines.orchestration import DAGS_FOLDER

pytestmark = pytest.mark.slow
REPO = DAGS_FOLDER.parent


def _airflow(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_backfill_create_plans_one_run_per_moscow_day(airflow_db: Path) -> None:
    _airflow("dags", "reserialize")
    out = _airflow(
        "backfill", "create", "--dag-id", "callpath_events_extract",
        "--from-date", "2025-03-08T00:00:00+03:00",
        "--to-date", "2025-03-10T00:00:00+03:00",
        "--dry-run",
    )  # fmt: skip

    planned = [
        pendulum.parse(stamp)
        for stamp in re.findall(r"^\|\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d)", out, re.M)
    ]
    msk = [pendulum.datetime(2025, 3, day, tz="Europe/Moscow") for day in (8, 9, 10)]
    assert planned == msk, out
