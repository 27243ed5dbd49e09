"""The daily job, one importable function per Airflow task.

Each function opens what it needs from settings and closes it again, so a task can
run in any worker process and DuckDB's single-writer lock is never held between tasks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from connectors.csv_fixture import CsvConfig, CsvDealsConnector, CsvSpendConnector
from pipelines import extract, land, publish, warehouse
from realtime.settings import Settings, get_settings
from realtime.store import open_event_store


def list_company_ids(settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    store = open_event_store(settings)
    try:
        return [c.id for c in store.list_companies()]
    finally:
        store.close()


def run_extract(company_id: str, day: date, settings: Settings | None = None) -> dict[str, int]:
    settings = settings or get_settings()
    store = open_event_store(settings)
    try:
        company = store.get_company(company_id)
        if company is None:
            raise LookupError(f"company {company_id!r} is not in the event store")
        with warehouse.connect(settings) as wh:
            return extract.extract_events(store, wh, company, day)
    finally:
        store.close()


def run_land_ad_spend(day: date, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    connector = CsvSpendConnector(CsvConfig(path=settings.fixtures_dir / "ad_spend.csv"))
    start = day - timedelta(days=settings.spend_lookback_days - 1)
    with warehouse.connect(settings) as wh:
        return land.land_ad_spend(wh, connector, start, day)


def run_land_crm_deals(day: date, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    connector = CsvDealsConnector(CsvConfig(path=settings.fixtures_dir / "crm_deals.csv"))
    since = datetime.combine(day - timedelta(days=settings.deals_lookback_days), time.min, UTC)
    with warehouse.connect(settings) as wh:
        deals = land.land_crm_deals(wh, connector, since)
        # Contacts carry the phones that match deals to callers; connectors that
        # cannot list them (the CSV fixture) land deals only.
        if hasattr(connector, "fetch_contacts"):
            land.land_crm_contacts(wh, connector, since)
        return deals


def run_dbt_build(settings: Settings | None = None) -> None:
    # dbt is heavy to import; only this task needs it
    from pipelines.transform import dbt_build, postgres_profile_env

    settings = settings or get_settings()
    with warehouse.connect(settings) as wh:
        target = wh.engine  # make sure the raw schema exists even before the first landing
    # The profile's `postgres` target reads CALLPATH_POSTGRES_*; derive them from the
    # DSN the pipelines use, so dbt builds in the very database they landed into.
    env = postgres_profile_env(settings.warehouse_postgres_dsn) if target == "postgres" else None
    dbt_build(settings.warehouse_path.resolve(), target=target, env=env)


def run_publish(day: date, settings: Settings | None = None) -> dict[str, int]:
    settings = settings or get_settings()
    with warehouse.connect(settings) as wh:
        return publish.publish_marts(wh, warehouse.dbt_build_schema(settings), day)
