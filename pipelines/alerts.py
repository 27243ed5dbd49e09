"""Failure alerts for the callpath DAGs: a log line, and a JSON POST if configured.

Every DAG's `default_args` has `on_failure_callback` calling `task_failure_alert`
(`dags/common.py`). It logs one ERROR line on the `callpath.alerts` logger naming the
DAG, task, run and error, and, when `CALLPATH_ALERT_WEBHOOK_URL` is set, POSTs the same
facts as JSON (Slack/Mattermost incoming webhooks show the `text` field). Sending is
best effort: a webhook that is down is logged and never masks the task's own failure.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from realtime.settings import Settings, get_settings

log = logging.getLogger("callpath.alerts")

TIMEOUT_SECONDS = 10.0
MAX_ERROR_CHARS = 4000  # a validation failure can list many rows; keep the alert readable


@dataclass(frozen=True)
class Alert:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int | None
    logical_date: str | None
    try_number: int | None
    error: str

    @property
    def text(self) -> str:
        task = self.task_id if self.map_index in (None, -1) else f"{self.task_id}[{self.map_index}]"
        return f"callpath: {self.dag_id}.{task} failed (run {self.run_id}): {self.error}"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, **asdict(self)}


def alert_from_context(context: Any) -> Alert:
    """The facts of a failed task instance, from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    error = f"{type(exception).__name__}: {exception}" if exception else "unknown error"
    logical = context.get("logical_date")
    return Alert(
        dag_id=str(getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?")),
        task_id=str(getattr(ti, "task_id", "?")),
        run_id=str(getattr(ti, "run_id", None) or context.get("run_id") or "?"),
        map_index=getattr(ti, "map_index", None),
        logical_date=logical.isoformat() if logical is not None else None,
        try_number=getattr(ti, "try_number", None),
        error=error[:MAX_ERROR_CHARS],
    )


def send_alert(alert: Alert, settings: Settings | None = None) -> bool:
    """Log `alert` (ERROR); POST it to `settings.alert_webhook_url` if set. Returns
    whether the webhook accepted it (False when unset or failing: logged, never raised)."""
    log.error("%s", alert.text)
    return _post(alert.payload(), settings or get_settings())


def notify(text: str, details: dict[str, Any], settings: Settings | None = None) -> bool:
    """A warning that is not a task failure (pool health): logged (WARNING) and POSTed
    as `{"text": text, **details}` like `send_alert`."""
    log.warning("%s", text)
    return _post({"text": text, **details}, settings or get_settings())


def _post(payload: dict[str, Any], settings: Settings) -> bool:
    url = settings.alert_webhook_url
    if not url:
        return False
    try:
        response = httpx.post(url, json=payload, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("alert webhook %s failed: %s: %s", url, type(exc).__name__, exc)
        return False
    return True


def task_failure_alert(context: Any) -> None:
    """`on_failure_callback` for every callpath task."""
    dag_run = context.get("dag_run")
    overrides = ((getattr(dag_run, "conf", None) if dag_run else None) or {}).get(
        "callpath_settings"
    )
    settings = Settings(**overrides) if overrides else None
    send_alert(alert_from_context(context), settings)
