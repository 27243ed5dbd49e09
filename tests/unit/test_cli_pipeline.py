"""`callpath pipeline backfill` argument handling (no Airflow run here)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from realtime import cli

runner = CliRunner()


def test_backfill_rejects_from_after_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.orchestration as orchestration

    def boom(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("run_days called for a bad range")

    monkeypatch.setattr(orchestration, "run_days", boom)
    result = runner.invoke(
        cli.app, ["pipeline", "backfill", "--from", "2025-03-10", "--to", "2025-03-09"]
    )
    assert result.exit_code == 2
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "--from 2025-03-10 is after --to 2025-03-09" in output
