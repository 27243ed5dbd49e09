"""The quality gate (`pipelines.validate`) with Great Expectations on a real DuckDB raw schema.

Each test lands rows in raw the way the pipelines do (`Warehouse.insert_frame`), breaks
one rule, and checks that the gate names that rule and the offending rows, writes the
HTML report, and lets clean data through.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from pipelines import warehouse
from pipelines.validate import ValidationFailed, validate_raw, validation_dir
from realtime.settings import Settings

DAY = date(2025, 3, 10)
LOADED = datetime(2025, 3, 11, 1, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        warehouse="duckdb",
        warehouse_path=tmp_path / "var" / "warehouse.duckdb",
        spend_lookback_days=3,
        deals_lookback_days=7,
    )


def _spend(day: date, campaign: str = "c1", spend: str = "100.50") -> dict:
    return {
        "platform": "yandex_direct",
        "account_id": "acc-1",
        "campaign_id": campaign,
        "campaign_name": f"campaign {campaign}",
        "date_day": day,
        "clicks": 10,
        "impressions": 100,
        "spend": Decimal(spend),
        "currency": "RUB",
        "_account": "acc-1",
        "_loaded_at": LOADED,
    }


def _call(entry_id: str, caller: str | None = "+79161234567", talk: int = 60) -> dict:
    return {
        "company_id": "acme",
        "entry_id": entry_id,
        "tracking_number": "+74950000001",
        "caller_number": caller,
        "direction": "in",
        "started_at": datetime(2025, 3, 10, 9, 0),
        "wait_seconds": 5,
        "talk_seconds": talk,
        "attribution_reason": "lease",
        "is_first_call": True,
        "is_target": True,
        "is_missed": False,
        "_day": DAY,
    }


def _session(session_id: str, last_seen: datetime | None = None) -> dict:
    return {
        "company_id": "acme",
        "site_id": "site",
        "session_id": session_id,
        "visitor_id": "v1",
        "started_at": datetime(2025, 3, 10, 8, 0),
        "last_seen_at": last_seen or datetime(2025, 3, 10, 8, 5),
        "_day": DAY,
    }


def _deal(deal_id: str, status: str = "won", amount: str = "5000") -> dict:
    return {
        "crm": "amocrm",
        "company_id": "acme",
        "deal_id": deal_id,
        "created_at": datetime(2025, 3, 9, 10, 0),
        "updated_at": datetime(2025, 3, 10, 10, 0),
        "status": status,
        "amount": Decimal(amount),
        "currency": "RUB",
        "_account": "amo-1",
        "_loaded_at": LOADED,
    }


def _land(settings: Settings, **tables: list[dict]) -> None:
    with warehouse.connect(settings) as wh:
        for table, rows in tables.items():
            wh.insert_frame(table, pd.DataFrame(rows))


def _clean(settings: Settings) -> None:
    _land(
        settings,
        ad_spend_yandex_direct=[_spend(date(2025, 3, 8)), _spend(DAY), _spend(DAY, "c2")],
        calls=[_call("e1"), _call("e2", caller=None)],  # an unknown caller is allowed
        sessions=[_session("s1"), _session("s2")],
        crm_deals_amocrm=[_deal("d1"), _deal("d2", status="open", amount="0")],
    )


def test_clean_landings_pass_and_every_suite_writes_its_report(settings: Settings) -> None:
    _clean(settings)

    report = validate_raw(DAY, DAY, settings, run_id="scheduled__2025-03-11T00:00:00+03:00")

    assert report.success
    rows = {suite.name: suite.rows for suite in report.suites}
    assert rows == {"ad_spend": 3, "calls": 2, "sessions": 2, "crm_deals": 2}
    out = validation_dir(settings, "scheduled__2025-03-11T00:00:00+03:00")
    assert sorted(p.name for p in out.iterdir()) == [
        "ad_spend.html",
        "calls.html",
        "crm_deals.html",
        "sessions.html",
    ]
    assert "passed" in (out / "calls.html").read_text()


def test_negative_cost_is_named_with_its_row(settings: Settings) -> None:
    _clean(settings)
    _land(settings, ad_spend_yandex_direct=[_spend(date(2025, 3, 9), "c9", spend="-12.00")])

    with pytest.raises(ValidationFailed) as excinfo:
        validate_raw(DAY, DAY, settings, run_id="r1")

    message = str(excinfo.value)
    assert "ad_spend: spend ≥ 0 [expect_column_values_to_be_between] failed for 1 row(s)" in message
    assert "campaign_id=c9" in message and "spend=-12.0" in message
    assert "nothing downstream was built or published" in message
    html = (validation_dir(settings, "r1") / "ad_spend.html").read_text()
    assert "FAILED" in html and "c9" in html
    assert [f.suite for f in excinfo.value.report.failures] == ["ad_spend"]


def test_duplicate_entry_id_negative_duration_and_bad_number_are_each_named(
    settings: Settings,
) -> None:
    _clean(settings)
    _land(settings, calls=[_call("e1"), _call("e3", caller="8916123"), _call("e4", talk=-5)])

    with pytest.raises(ValidationFailed) as excinfo:
        validate_raw(DAY, DAY, settings, run_id="r2")

    failures = {f.description: f for f in excinfo.value.report.failures}
    assert set(failures) == {
        "entry_id unique per company",
        "talk_seconds ≥ 0",
        "caller_number is E.164 (when known)",
    }
    assert failures["entry_id unique per company"].offending_rows == [
        {"company_id": "acme", "entry_id": "e1"}
    ]
    assert failures["entry_id unique per company"].unexpected_count == 2
    message = str(excinfo.value)
    assert "calls: entry_id unique per company" in message and "entry_id=e1" in message
    assert "caller_number=8916123" in message


def test_spend_outside_the_window_and_duplicate_campaign_day_fail(settings: Settings) -> None:
    _clean(settings)
    # Landed with the window (same load): a day after the run's day, and c1 on DAY again.
    _land(settings, ad_spend_yandex_direct=[_spend(date(2025, 3, 12), "c3"), _spend(DAY)])

    with pytest.raises(ValidationFailed) as excinfo:
        validate_raw(DAY, DAY, settings, run_id="r3")

    failures = {f.description: f for f in excinfo.value.report.failures}
    assert set(failures) == {
        "date_day inside the interval 2025-03-08 … 2025-03-10",
        "one row per (platform, account, campaign, date)",
    }
    outside = failures["date_day inside the interval 2025-03-08 … 2025-03-10"]
    assert [row["campaign_id"] for row in outside.offending_rows] == ["c3"]


def test_an_earlier_backfill_does_not_flag_later_days_landed_before(settings: Settings) -> None:
    """Validating 8 March after 10 March was landed: 10 March rows were loaded earlier,
    so they are not this landing's and are not 'outside the interval'."""
    earlier = {**_spend(date(2025, 3, 10)), "_loaded_at": datetime(2025, 3, 11, 1, 0)}
    later = {**_spend(date(2025, 3, 8)), "_loaded_at": datetime(2025, 3, 12, 1, 0)}
    _land(settings, ad_spend_yandex_direct=[earlier, later])

    report = validate_raw(date(2025, 3, 8), date(2025, 3, 8), settings, run_id="r4")

    assert report.success


def test_unknown_deal_status_and_negative_amount_fail(settings: Settings) -> None:
    _clean(settings)
    _land(settings, crm_deals_amocrm=[_deal("d3", status="pending"), _deal("d4", amount="-1")])

    with pytest.raises(ValidationFailed) as excinfo:
        validate_raw(DAY, DAY, settings, run_id="r5")

    failures = {f.description: f.offending_rows for f in excinfo.value.report.failures}
    assert failures == {
        "status is one of open, won, lost": [
            {"crm": "amocrm", "_account": "amo-1", "deal_id": "d3", "status": "pending"}
        ],
        "amount ≥ 0": [{"crm": "amocrm", "_account": "amo-1", "deal_id": "d4", "amount": -1.0}],
    }


def test_session_seen_before_it_started_fails(settings: Settings) -> None:
    _clean(settings)
    _land(settings, sessions=[_session("s3", last_seen=datetime(2025, 3, 10, 7, 0))])

    with pytest.raises(ValidationFailed, match="sessions: last_seen_at ≥ started_at"):
        validate_raw(DAY, DAY, settings, run_id="r6")


def test_a_range_of_days_checks_every_day(settings: Settings) -> None:
    _clean(settings)
    bad = {**_call("e9", talk=-1), "_day": date(2025, 3, 9)}
    _land(settings, calls=[bad])

    assert validate_raw(DAY, DAY, settings, run_id="r7").success  # 9 March not in range
    with pytest.raises(ValidationFailed, match="talk_seconds"):
        validate_raw(date(2025, 3, 9), DAY, settings, run_id="r8")


@pytest.fixture
def pg_settings(settings: Settings) -> Iterator[Settings]:
    """`settings` on a throwaway PostgreSQL database of its own."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    server = os.environ.get(
        "CALLPATH_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
    )
    name = f"cp_validate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        yield settings.model_copy(
            update={
                "warehouse": "postgres",
                "warehouse_postgres_dsn": make_conninfo(server, dbname=name),
            }
        )
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


def test_the_gate_reads_a_postgresql_warehouse_the_same_way(pg_settings: Settings) -> None:
    _clean(pg_settings)
    assert validate_raw(DAY, DAY, pg_settings, run_id="pg1").success

    _land(
        pg_settings, ad_spend_yandex_direct=[_spend(DAY, "c9", spend="-1.00")], calls=[_call("e1")]
    )

    with pytest.raises(ValidationFailed) as excinfo:
        validate_raw(DAY, DAY, pg_settings, run_id="pg2")
    assert {f.description for f in excinfo.value.report.failures} == {
        "spend ≥ 0",
        "entry_id unique per company",
    }
