"""`callpath crm sync-contacts`: CRM contacts (phone → responsible manager) from the
local amoCRM and Bitrix24 fakes, over their real protocols, into the event store."""

from __future__ import annotations

import os
from datetime import timedelta

from typer.testing import CliRunner

from connectors.fakes.amocrm import FakeAmoCrm
from connectors.fakes.bitrix24 import FakeBitrix24, contact_row
from realtime.cli import app as cli
from realtime.domain import utcnow
from realtime.settings import get_settings
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import seed_tenants


def _sync(monkeypatch, env: dict[str, str], *args: str):
    for name in list(os.environ):
        if name.startswith(("CALLPATH_AMOCRM_", "CALLPATH_BITRIX24_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(env["CALLPATH_VAR_DIR"])  # no stray .env from the repository
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["crm", "sync-contacts", *args])
    finally:
        get_settings.cache_clear()


def test_sync_contacts_lands_both_crms_and_a_resync_moves_the_manager(
    settings, tmp_path, monkeypatch
):
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store)
    store.close()
    now = utcnow() - timedelta(hours=2)  # a CRM reports no future changes
    amo = FakeAmoCrm()
    amo.add_contact(7, phones=["+7 916 111-00-01"], responsible_user_id=501, updated_at=now)
    amo.add_contact(8, phones=[], responsible_user_id=502, updated_at=now)  # no phone
    portal = FakeBitrix24(
        contacts=[contact_row(9, modified=now, phones=["8 916 111-00-02"], assigned_by_id=17)]
    )
    with amo.serve() as amo_url, portal.start() as webhook:
        env = {
            "CALLPATH_VAR_DIR": str(tmp_path),
            "CALLPATH_EVENT_STORE_URL": settings.event_store_url,
            "CALLPATH_AMOCRM_BASE_URL": amo_url,
            "CALLPATH_AMOCRM_COMPANY_ID": "acme",
            "CALLPATH_AMOCRM_LONG_LIVED_TOKEN": amo.long_lived_token,
            "CALLPATH_AMOCRM_TOKEN_PATH": str(tmp_path / "amo.json"),
            "CALLPATH_BITRIX24_WEBHOOK_URL": webhook,
            "CALLPATH_BITRIX24_COMPANY_ID": "globex",
        }
        result = _sync(monkeypatch, env)
        assert result.exit_code == 0, result.output
        assert "2 contact(s) synced" in result.output  # amoCRM: both, one without phones
        assert "1 contact(s) synced" in result.output

        amo.add_contact(
            7, phones=["+7 916 111-00-01"], responsible_user_id=777,
            updated_at=now + timedelta(hours=1),
        )  # fmt: skip
        result = _sync(monkeypatch, env, "--days", "1")
        assert result.exit_code == 0, result.output

    store = SQLiteEventStore(settings.sqlite_path())
    try:
        amo_contact = store.find_crm_contact("acme", "+79161110001")
        assert (amo_contact.crm, amo_contact.contact_id) == ("amocrm", "7")
        assert amo_contact.responsible_user_id == "777"
        bitrix_contact = store.find_crm_contact("globex", "+79161110002")
        assert (bitrix_contact.crm, bitrix_contact.responsible_user_id) == ("bitrix24", "17")
        assert store.find_crm_contact("acme", "+79161110002") is None  # globex's portal
    finally:
        store.close()


def test_sync_without_a_configured_crm_says_so(settings, tmp_path, monkeypatch):
    env = {"CALLPATH_VAR_DIR": str(tmp_path), "CALLPATH_EVENT_STORE_URL": settings.event_store_url}
    result = _sync(monkeypatch, env)
    assert result.exit_code == 2
    assert "no CRM configured" in result.output


def test_the_daily_crm_landing_also_keeps_the_redirect_contacts_current(
    settings, tmp_path, monkeypatch
):
    """`callpath_crm_deals`'s task (pipelines.daily.run_land_crm_account) copies the
    contacts it lands into the event store, so smart redirect needs no separate cron."""
    from pipelines import daily

    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store)
    store.close()
    now = utcnow() - timedelta(hours=2)
    amo = FakeAmoCrm()
    amo.add_contact(41, phones=["+7 916 222-00-41"], responsible_user_id=503, updated_at=now)
    with amo.serve() as amo_url:
        env = {
            "CALLPATH_VAR_DIR": str(tmp_path),
            "CALLPATH_EVENT_STORE_URL": settings.event_store_url,
            "CALLPATH_WAREHOUSE": "duckdb",
            "CALLPATH_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
            "CALLPATH_AMOCRM_BASE_URL": amo_url,
            "CALLPATH_AMOCRM_COMPANY_ID": "acme",
            "CALLPATH_AMOCRM_LONG_LIVED_TOKEN": amo.long_lived_token,
            "CALLPATH_AMOCRM_TOKEN_PATH": str(tmp_path / "amo.json"),
        }
        for name in list(os.environ):
            if name.startswith(("CALLPATH_AMOCRM_", "CALLPATH_BITRIX24_")):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        get_settings.cache_clear()
        try:
            [account] = [a for a in daily.list_crm_accounts() if a["source"] == "amocrm"]
            daily.run_land_crm_account(
                "amocrm", account["account"], now.date(), get_settings()
            )
        finally:
            get_settings.cache_clear()

    store = SQLiteEventStore(settings.sqlite_path())
    try:
        contact = store.find_crm_contact("acme", "+79162220041")
        assert contact is not None and contact.responsible_user_id == "503"
    finally:
        store.close()
