"""Misconfiguration gets one line that names the variable to fix, exit code 2, and no
stack trace; `callpath --help` is a map of the product."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from realtime.cli import app
from realtime.settings import get_settings


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke the CLI in an empty directory (no .env) with only the given CALLPATH_*."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("CALLPATH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CALLPATH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CALLPATH_EVENT_STORE_URL", f"sqlite:///{tmp_path / 'events.sqlite3'}")
    monkeypatch.setenv("CALLPATH_POOL_STORE_URL", f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    monkeypatch.setenv("CALLPATH_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))

    def invoke(args: list[str], **env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, args)
        finally:
            get_settings.cache_clear()

    return invoke


def _one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_invalid_setting_names_its_variable_and_the_bad_value(run):
    line = _one_line_error(run(["serve"], CALLPATH_PORT="eighty"))
    assert "CALLPATH_PORT" in line and "'eighty'" in line and ".env" in line


def test_an_unknown_warehouse_engine_names_the_variable(run):
    line = _one_line_error(run(["report"], CALLPATH_WAREHOUSE="oracle"))
    assert "CALLPATH_WAREHOUSE='oracle'" in line and "duckdb" in line


def test_an_unreachable_postgres_warehouse_names_the_dsn_variable_not_its_password(run):
    dsn = "postgresql://analyst:s3cret@127.0.0.1:1/warehouse"  # nothing listens on port 1
    line = _one_line_error(
        run(["report"], CALLPATH_WAREHOUSE="postgres", CALLPATH_WAREHOUSE_POSTGRES_DSN=dsn)
    )
    assert "CALLPATH_WAREHOUSE_POSTGRES_DSN" in line
    assert "s3cret" not in line


def test_an_unsupported_event_store_url_says_which_schemes_work(run):
    line = _one_line_error(
        run(["company", "create", "--id", "acme", "--name", "Acme"],
            CALLPATH_EVENT_STORE_URL="postgres://db/events")
    )  # fmt: skip
    assert "CALLPATH_EVENT_STORE_URL" in line and "sqlite:///" in line and "mongodb://" in line


def test_a_warehouse_locked_by_another_process_is_explained(run, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            conn = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        line = _one_line_error(run(["report"]))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert "open in another process" in line and str(path) in line


def test_a_user_mistake_in_arguments_is_one_line_too(run):
    line = _one_line_error(run(["report", "--from", "2026-11-25", "--to", "2026-11-01"]))
    assert "--from 2026-11-25 is after --to 2026-11-01" in line


def test_help_is_a_map_of_the_product(run):
    result = run(["--help"])
    assert result.exit_code == 0
    text = result.output
    for panel in ("Set up a client", "Run the service", "Analytics"):
        assert panel in text
    for command in ("serve", "demo", "report", "company", "numbers", "keys", "pipeline"):
        assert command in text
    assert "[bold]" not in text and "[cyan]" not in text  # the markup was rendered


def test_a_half_configured_crm_names_the_missing_variable(run):
    line = _one_line_error(run(["crm", "sync-contacts"], CALLPATH_AMOCRM_SUBDOMAIN="acme"))
    assert "amocrm" in line and "CALLPATH_AMOCRM_" in line and "docs/connectors/amocrm.md" in line
