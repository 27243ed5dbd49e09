"""Run the daily DAGs end to end with DAG.test() (in-process, SQLite metadata DB).

Every test runs the real pipelines on demo data (`realtime.demo`), spend and deals
served by the local fakes of the four sources (`demo.serve_demo_sources`) and pulled by
the real connectors. dbt builds dominate the cost (minutes on a busy machine), so the
tests that need built marts share one backfilled warehouse (module fixture) and only
two builds run in all: the 3-day backfill and the re-run of its last day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.orchestration import (
    BUILD_DAG_ID,
    PipelineRunError,
    execute_dag,
    run_day,
)
from realtime.settings import Settings, get_settings

pytestmark = pytest.mark.slow

DAYS = [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]


def _env(var: Path) -> dict[str, str]:
    return {
        "CALLPATH_VAR_DIR": str(var),
        "CALLPATH_EVENT_STORE_URL": f"sqlite:///{var / 'events.sqlite3'}",
        "CALLPATH_POOL_STORE_URL": f"sqlite:///{var / 'pool.sqlite3'}",
        "CALLPATH_WAREHOUSE": "duckdb",
        "CALLPATH_WAREHOUSE_PATH": str(var / "warehouse.duckdb"),
        "CALLPATH_DEFAULT_TIMEZONE": "Europe/Moscow",
    }


def _published_checksums(settings: Settings) -> dict[str, str]:
    """sha256 of every published mart's sorted rows (publish_log excluded: it grows)."""
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        marts = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'published' and table_name <> 'publish_log'"
                " order by 1"
            ).fetchall()
        ]
        sums = {}
        for mart in marts:
            rows = conn.execute(f"select * from published.{mart}").fetchall()
            text = "\n".join(sorted(repr(row) for row in rows))
            sums[mart] = hashlib.sha256(text.encode()).hexdigest()
    finally:
        conn.close()
    return sums


def _query(settings: Settings, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def backfilled(airflow_db: Path, tmp_path_factory) -> Iterator[tuple[Settings, object]]:
    """Three demo days backfilled through `callpath pipeline backfill`, fakes running."""
    from typer.testing import CliRunner

    from realtime import cli, demo

    var = tmp_path_factory.mktemp("backfill") / "var"
    var.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _env(var).items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        settings = get_settings()
        demo.seed(settings)
        week = demo.simulate_week(settings, DAYS)
        with demo.serve_demo_sources(settings, week) as sources:
            outcome = CliRunner().invoke(
                cli.app, ["pipeline", "backfill", "--from", "2025-03-08", "--to", "2025-03-10"]
            )
            assert outcome.exit_code == 0, outcome.output
            yield settings, sources
    get_settings.cache_clear()


def test_backfill_lands_every_day_and_publishes_them_in_one_build(backfilled) -> None:
    settings, _ = backfilled
    landed = _query(settings, "select distinct _day from raw.sessions order by 1")
    assert [d for (d,) in landed] == DAYS
    snapshots = _query(settings, "select distinct _day from raw.pool_snapshots order by 1")
    assert [d for (d,) in snapshots] == DAYS  # the pool snapshot rides with the events
    spend_days = _query(settings, "select distinct date_day from raw.ad_spend_yandex_direct")
    assert {d for (d,) in spend_days} >= set(DAYS)
    # one analytics build over the three days, publishing every built mart once
    log = _query(settings, "select run_day, mart from published.publish_log")
    assert {run_day for run_day, _ in log} == {DAYS[-1]}
    published = {mart for _, mart in log}
    assert "e2e_daily" in published
    # intermediate models are tables too, but only dbt/models/marts is published
    assert not {m for m in published if m.startswith(("int_", "stg_"))}
    assert "attribution" in published and "fct_calls" in published
    reported = _query(settings, "select distinct report_date from published.e2e_daily")
    assert set(DAYS) <= {d for (d,) in reported}
    reports = list((settings.var_dir / "validation").glob("*/calls.html"))
    assert len(reports) == 1 and "passed" in reports[0].read_text()
    # the build redrew the dashboard from the marts it had just published
    page = settings.dashboard_path.read_text()
    assert "source: published.e2e_daily" in page.lower()


def test_running_a_day_again_gives_identical_marts(backfilled) -> None:
    settings, _ = backfilled
    before = _published_checksums(settings)
    assert "e2e_daily" in before

    results = run_day(DAYS[-1], settings)

    assert [r.dag_id for r in results] == [
        "callpath_events_extract",
        "callpath_ad_spend",
        "callpath_crm_deals",
        BUILD_DAG_ID,
    ]
    states = {r.dag_id: r.task_states for r in results}
    assert states["callpath_events_extract"] == {
        "company_ids": "success",
        "extract[0]": "success",
        "raw_events_landed": "success",
    }
    # one mapped instance per configured account: yandex, google / amoCRM, Bitrix24
    assert states["callpath_ad_spend"]["land_spend[1]"] == "success"
    assert set(states["callpath_crm_deals"].values()) == {"success"}
    assert states[BUILD_DAG_ID] == {
        "validate_raw": "success",
        "dbt_build": "success",
        "publish": "success",
        "dashboard": "success",
    }
    assert _published_checksums(settings) == before


def test_bad_data_stops_the_build_names_the_check_and_keeps_the_published_marts(
    backfilled, alert_receiver
) -> None:
    """A landing that delivered a negative cost and a duplicate entry_id: the gate
    fails, dbt and publish never run, the alert names both checks and the rows."""
    settings, _ = backfilled
    receiver, url = alert_receiver
    before = _published_checksums(settings)
    log_before = _query(settings, "select * from published.publish_log order by all")
    conn = duckdb.connect(str(settings.warehouse_path))
    try:
        conn.execute(
            "insert into raw.ad_spend_yandex_direct (date_day, platform, account_id,"
            " campaign_id, clicks, impressions, spend, currency, _account, _loaded_at)"
            " values (?, 'yandex_direct', 'demo-direct', 'broken-7', 1, 10, -250, 'RUB',"
            " 'demo-direct', ?)",
            [DAYS[-1], datetime.now()],
        )
        (entry_id,) = conn.execute(
            "select entry_id from raw.calls where _day = ? order by entry_id limit 1", [DAYS[-1]]
        ).fetchone()
        conn.execute(
            "insert into raw.calls select * from raw.calls where _day = ? and entry_id = ?",
            [DAYS[-1], entry_id],
        )
    finally:
        conn.close()

    alerting = settings.model_copy(update={"alert_webhook_url": url})
    result = execute_dag(BUILD_DAG_ID, DAYS[-1], alerting)

    assert result.state == "failed"
    assert result.task_states == {
        "validate_raw": "failed",
        "dbt_build": "upstream_failed",
        "publish": "upstream_failed",
        "dashboard": "upstream_failed",
    }
    err = PipelineRunError(result)  # what run_day raises: names the DAG and the task
    assert str(err).startswith(f"{BUILD_DAG_ID} for 2025-03-10 ended 'failed'; failed tasks: ")
    assert err.failed_task_ids == ["validate_raw"]
    [alert] = receiver.received
    assert alert["task_id"] == "validate_raw"
    assert "ValidationFailed: quality gate failed for 2025-03-10" in alert["error"]
    assert "ad_spend: spend ≥ 0" in alert["error"] and "campaign_id=broken-7" in alert["error"]
    assert "calls: entry_id unique per company" in alert["error"]
    assert f"entry_id={entry_id}" in alert["error"]
    report = settings.var_dir / "validation"
    assert any("broken-7" in p.read_text() for p in report.glob("*/ad_spend.html"))
    assert _published_checksums(settings) == before
    assert _query(settings, "select * from published.publish_log order by all") == log_before


def test_a_broken_crm_fails_its_own_account_only_and_nothing_is_built(
    airflow_db: Path, callpath_settings: Settings, alert_receiver
) -> None:
    from realtime import demo

    receiver, url = alert_receiver
    settings = callpath_settings.model_copy(update={"alert_webhook_url": url})
    demo.seed(settings)
    week = demo.simulate_week(settings, [DAYS[-1]])

    with demo.serve_demo_sources(settings, week) as sources:
        # amoCRM refuses this server's IP (403: not retried, a person must act).
        sources.amocrm.fail(403, times=1)
        with pytest.raises(PipelineRunError, match="callpath_crm_deals") as excinfo:
            run_day(DAYS[-1], settings)  # retries are off for DAG.test()

    err = excinfo.value
    assert err.dag_id == "callpath_crm_deals"
    assert err.failed_task_ids == ["land_crm[0]"]  # amoCRM
    assert err.result.task_states["land_crm[1]"] == "success"  # Bitrix24 still landed
    assert err.upstream_failed_task_ids == ["raw_crm_deals_landed"]  # no asset event
    [alert] = receiver.received
    assert (alert["dag_id"], alert["task_id"], alert["map_index"]) == (
        "callpath_crm_deals",
        "land_crm",
        0,
    )
    assert "amocrm" in alert["error"]
    published = _query(
        settings,
        "select count(*) from information_schema.tables where table_schema = 'published'",
    )
    assert published == [(0,)]


def test_no_companies_still_lands_the_day_and_announces_it(
    airflow_db: Path, callpath_settings: Settings
) -> None:
    result = execute_dag("callpath_events_extract", DAYS[-1], callpath_settings)

    assert result.state == "success", result
    assert result.task_states == {
        "company_ids": "success",
        "extract": "skipped",  # zero mapped instances
        "raw_events_landed": "success",
    }
