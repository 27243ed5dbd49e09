"""Failure alerts (`pipelines.alerts`): the log line and the webhook POST, against a real
local HTTP endpoint. The DAG-level path (a failing task calling the callback) is in
test_daily_dags_run.py."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from pipelines.alerts import alert_from_context, send_alert, task_failure_alert
from realtime.settings import Settings


def _context(url: str | None = None) -> dict:
    ti = SimpleNamespace(
        dag_id="callpath_ad_spend",
        task_id="land_spend",
        run_id="scheduled__2025-03-10",
        map_index=1,
        try_number=3,
    )
    conf = {"callpath_settings": {"alert_webhook_url": url}} if url else {}
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(dag_id="callpath_ad_spend", conf=conf),
        "exception": RuntimeError("google_ads [123]: 403 PERMISSION_DENIED"),
    }


def test_a_failed_task_is_logged_and_posted_to_the_webhook(alert_receiver, caplog) -> None:
    receiver, url = alert_receiver
    with caplog.at_level(logging.ERROR, logger="callpath.alerts"):
        task_failure_alert(_context(url))

    text = (
        "callpath: callpath_ad_spend.land_spend[1] failed (run scheduled__2025-03-10): "
        "RuntimeError: google_ads [123]: 403 PERMISSION_DENIED"
    )
    assert text in caplog.text
    assert len(receiver.received) == 1
    body = receiver.received[0]
    assert body["text"] == text
    assert (body["dag_id"], body["task_id"], body["map_index"], body["try_number"]) == (
        "callpath_ad_spend",
        "land_spend",
        1,
        3,
    )


def test_without_a_webhook_url_only_the_log_line_is_written(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="callpath.alerts"):
        sent = send_alert(alert_from_context(_context()), Settings(alert_webhook_url=None))
    assert sent is False
    assert "callpath_ad_spend.land_spend[1] failed" in caplog.text


def test_a_broken_webhook_is_logged_and_never_raised(alert_receiver, caplog) -> None:
    receiver, url = alert_receiver
    receiver.status = 500
    with caplog.at_level(logging.WARNING, logger="callpath.alerts"):
        sent = send_alert(alert_from_context(_context()), Settings(alert_webhook_url=url))
    assert sent is False
    assert len(receiver.received) == 1
    assert f"alert webhook {url} failed" in caplog.text


def test_a_webhook_that_is_not_listening_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    from connectors.fakes.serving import bound_socket

    sock = bound_socket()  # bound, never listening: connection refused
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        with caplog.at_level(logging.WARNING, logger="callpath.alerts"):
            sent = send_alert(alert_from_context(_context()), Settings(alert_webhook_url=url))
        assert sent is False
    finally:
        sock.close()
    assert "ConnectError" in caplog.text
