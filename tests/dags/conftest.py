"""Airflow for the DAG tests: one throwaway AIRFLOW_HOME (SQLite) per pytest session.

The variables are set when this conftest is imported, not in a fixture: pytest
imports the test modules (which import airflow) while collecting, before any
fixture runs, and Airflow reads its configuration once, on first import.  They
point Airflow at a temporary home, this repo's `dags/` and no example DAGs, and
lower Airflow's log level to WARNING (task errors and tracebacks still show).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.orchestration import airflow_env, ensure_airflow_db
from realtime.settings import Settings, get_settings

if "airflow" in sys.modules:  # too late to configure it; tests use whatever it was given
    warnings.warn(
        "airflow was imported before tests/dags/conftest.py; its AIRFLOW_HOME is not isolated",
        stacklevel=1,
    )

AIRFLOW_TEST_HOME = Path(tempfile.mkdtemp(prefix="callpath-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_TEST_HOME, ignore_errors=True)
os.environ.update(airflow_env(AIRFLOW_TEST_HOME))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's AIRFLOW_HOME with its metadata DB created (once)."""
    ensure_airflow_db()
    return AIRFLOW_TEST_HOME


@pytest.fixture
def callpath_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """CALLPATH_* pointing every piece of embedded state into a fresh tmp dir."""
    var = tmp_path / "var"
    var.mkdir()
    env = {
        "CALLPATH_VAR_DIR": str(var),
        "CALLPATH_EVENT_STORE_URL": f"sqlite:///{var / 'events.sqlite3'}",
        "CALLPATH_POOL_STORE_URL": f"sqlite:///{var / 'pool.sqlite3'}",
        "CALLPATH_WAREHOUSE": "duckdb",
        "CALLPATH_WAREHOUSE_PATH": str(var / "warehouse.duckdb"),
        "CALLPATH_DEFAULT_TIMEZONE": "Europe/Moscow",
        "CALLPATH_DASHBOARD_PATH": str(tmp_path / "reports" / "dashboard.html"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


class AlertReceiver:
    """A local HTTP endpoint standing in for a chat webhook: records JSON bodies and
    answers `status` (set it to 500 to play a broken webhook)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/alerts"
        finally:
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def alert_receiver() -> Iterator[tuple[AlertReceiver, str]]:
    receiver = AlertReceiver()
    with receiver.serve() as url:
        yield receiver, url
