"""The daily job, one importable function per Airflow task.

Each function opens what it needs from settings and closes it again, so a task can
run in any worker process and DuckDB's single-writer lock is never held between tasks.

The DAGs map over sources: `list_spend_accounts()` / `list_crm_accounts()` name every
configured account (one mapped task instance each), and `run_land_spend_account` /
`run_land_crm_account` land one of them. `run_land_ad_spend` / `run_land_crm_deals`
land every configured account in one call (tests, scripts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from connectors import registry
from connectors.base import SourceError
from pipelines import extract, land, publish, warehouse
from realtime.settings import Settings, get_settings
from realtime.store import open_event_store

log = logging.getLogger(__name__)
C = TypeVar("C")


class SourcesFailed(RuntimeError):
    """Some sources failed to land; the others landed. `failures`: (source, message)."""

    def __init__(self, what: str, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        lines = "\n".join(f"- {message}" for _, message in failures)
        names = ", ".join(dict.fromkeys(source for source, _ in failures))
        super().__init__(f"{what}: {len(failures)} failed ({names}):\n{lines}")


def _describe(source: str, account: str, exc: Exception) -> str:
    if isinstance(exc, SourceError):
        return str(exc)  # already names the source, the account and what to do
    return f"{source} [{account}]: {type(exc).__name__}: {exc}"


def _land_each(what: str, sources: list[registry.Source[C]], land_one: Callable[[C], int]) -> int:
    """Build every configured source and land each of its connectors in its own try:
    a failure is logged and collected, the others still land, and one error naming
    every failed source is raised at the end. Nothing configured: a warning, 0."""
    failures: list[tuple[str, str]] = []
    landed = configured = 0
    for source in sources:
        try:
            connectors = source.build()
        except Exception as exc:  # a configuration error: this source only
            log.exception("%s: %s could not be set up", what, source.name)
            failures.append((source.name, _describe(source.name, "config", exc)))
            continue
        for connector in connectors:
            configured += 1
            name = getattr(connector, "source", source.name)
            try:
                count = land_one(connector)
            except Exception as exc:
                log.exception("%s: %s [%s] failed", what, name, connector.account)
                failures.append((name, _describe(name, connector.account, exc)))
            else:
                log.info("%s: %s [%s] landed %d rows", what, name, connector.account, count)
                landed += count
            finally:
                _close(connector)
    if failures:
        raise SourcesFailed(what, failures)
    if not configured:
        log.warning(
            "%s: no source is configured (set the CALLPATH_<SOURCE>_* variables, see "
            "docs/connectors/); nothing landed",
            what,
        )
    return landed


def _close(connector: Any) -> None:
    close = getattr(connector, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing must never hide the landing's outcome
            log.warning("closing %s failed", getattr(connector, "source", connector), exc_info=True)


def _accounts(what: str, sources: list[registry.Source[Any]]) -> list[dict[str, str | None]]:
    """One entry per configured account: {"source", "account", "error"}. A source that
    cannot be set up becomes one entry with its error, so its mapped task fails (naming
    why) while the other accounts still land."""
    accounts: list[dict[str, str | None]] = []
    for source in sources:
        try:
            connectors = source.build()
        except Exception as exc:
            log.exception("%s: %s could not be set up", what, source.name)
            accounts.append(
                {
                    "source": source.name,
                    "account": None,
                    "error": _describe(source.name, "config", exc),
                }
            )
            continue
        for connector in connectors:
            accounts.append({"source": source.name, "account": connector.account, "error": None})
            _close(connector)
    if not accounts:
        log.warning(
            "%s: no source is configured (set the CALLPATH_<SOURCE>_* variables, see "
            "docs/connectors/); nothing to land",
            what,
        )
    return accounts


def _one_account(
    sources: list[registry.Source[C]], source_name: str, account: str | None
) -> list[registry.Source[C]]:
    """The `_land_each` input for exactly one account of one source."""
    by_name = {source.name: source for source in sources}
    if source_name not in by_name:
        raise LookupError(f"no source {source_name!r}; known: {', '.join(by_name)}")

    def build() -> list[C]:
        connectors = by_name[source_name].build()
        chosen = [c for c in connectors if c.account == account]  # type: ignore[attr-defined]
        for other in connectors:
            if other not in chosen:
                _close(other)
        if not chosen:
            raise LookupError(f"{source_name} account {account!r} is no longer configured")
        return chosen[:1]

    return [registry.Source(source_name, build)]


def list_spend_accounts() -> list[dict[str, str | None]]:
    """Every configured ad account (Yandex.Direct login, Google Ads customer)."""
    return _accounts("land_ad_spend", registry.spend_sources())


def list_crm_accounts() -> list[dict[str, str | None]]:
    """Every configured CRM integration (amoCRM, Bitrix24 account)."""
    return _accounts("land_crm_deals", registry.crm_sources())


def run_land_spend_account(
    source: str,
    account: str | None,
    day: date,
    settings: Settings | None = None,
    error: str | None = None,
) -> int:
    """Land one ad account's lookback window (`CALLPATH_SPEND_LOOKBACK_DAYS` days ending
    on `day`); returns the rows landed. Raises `SourcesFailed` naming it on failure."""
    settings = settings or get_settings()
    start = day - timedelta(days=settings.spend_lookback_days - 1)
    if error:  # the source could not even be set up (see `_accounts`)
        raise SourcesFailed("land_ad_spend", [(source, error)])
    with warehouse.connect(settings) as wh:
        return _land_each(
            "land_ad_spend",
            _one_account(registry.spend_sources(), source, account),
            lambda connector: land.land_ad_spend(wh, connector, start, day),
        )


def run_land_crm_account(
    source: str,
    account: str | None,
    day: date,
    settings: Settings | None = None,
    error: str | None = None,
) -> int:
    """Land one CRM account's deals and contacts changed since
    `CALLPATH_DEALS_LOOKBACK_DAYS` days before `day`, and copy those contacts into the
    event store for smart redirect; returns the deals landed."""
    settings = settings or get_settings()
    since = datetime.combine(day - timedelta(days=settings.deals_lookback_days), time.min, UTC)
    if error:  # the source could not even be set up (see `_accounts`)
        raise SourcesFailed("land_crm_deals", [(source, error)])
    store = open_event_store(settings)
    try:
        with warehouse.connect(settings) as wh:
            return _land_each(
                "land_crm_deals",
                _one_account(registry.crm_sources(), source, account),
                lambda connector: _land_crm(wh, store, connector, since),
            )
    finally:
        store.close()


def _land_crm(wh: warehouse.Warehouse, store: Any, connector: Any, since: datetime) -> int:
    from realtime.redirect.crm_sync import sync_contacts

    deals = land.land_crm_deals(wh, connector, since)
    # Contacts carry the phones that match deals to callers and managers.
    land.land_crm_contacts(wh, connector, since)
    # Smart redirect answers within the PBX greeting, so it reads phone -> responsible
    # manager from the event store, never from the warehouse or the CRM: keep it fresh.
    sync_contacts(store, [connector], since)
    return deals


def list_company_ids(settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    store = open_event_store(settings)
    try:
        return [c.id for c in store.list_companies()]
    finally:
        store.close()


def run_extract(company_id: str, day: date, settings: Settings | None = None) -> dict[str, int]:
    """One company's day: its events (sessions, leases, calls, lead touches, callback
    tasks) and its pool snapshot (pool state now, the advisor's size for the day's
    traffic) replace their `_day` partitions; returns rows per raw table."""
    from realtime.pool import open_pool_store

    settings = settings or get_settings()
    store = open_event_store(settings)
    try:
        company = store.get_company(company_id)
        if company is None:
            raise LookupError(f"company {company_id!r} is not in the event store")
        pool = open_pool_store(settings)
        try:
            with warehouse.connect(settings) as wh:
                counts = extract.extract_events(store, wh, company, day)
                counts |= extract.extract_pool_snapshot(
                    store, pool, wh, company, day, settings.advisor_target_blocking
                )
                return counts
        finally:
            pool.close()
    finally:
        store.close()


def run_land_ad_spend(day: date, settings: Settings | None = None) -> int:
    """Land the lookback window of every configured spend source (`connectors.registry`);
    returns the rows landed. Raises `SourcesFailed` after the others have landed."""
    settings = settings or get_settings()
    start = day - timedelta(days=settings.spend_lookback_days - 1)
    with warehouse.connect(settings) as wh:
        return _land_each(
            "land_ad_spend",
            registry.spend_sources(),
            lambda connector: land.land_ad_spend(wh, connector, start, day),
        )


def run_land_crm_deals(day: date, settings: Settings | None = None) -> int:
    """Land deals and contacts changed in the lookback of every configured CRM; returns
    the deals landed. Raises `SourcesFailed` after the others have landed."""
    settings = settings or get_settings()
    since = datetime.combine(day - timedelta(days=settings.deals_lookback_days), time.min, UTC)

    store = open_event_store(settings)
    try:
        with warehouse.connect(settings) as wh:
            return _land_each(
                "land_crm_deals",
                registry.crm_sources(),
                lambda connector: _land_crm(wh, store, connector, since),
            )
    finally:
        store.close()


def run_dbt_build(settings: Settings | None = None) -> None:
    # dbt is heavy to import; only this task needs it
    from pipelines.transform import dbt_build, postgres_profile_env

    settings = settings or get_settings()
    with warehouse.connect(settings) as wh:
        target = wh.engine  # make sure the raw schema exists even before the first landing
    # The profile's `postgres` target reads CALLPATH_POSTGRES_*; derive them from the
    # DSN the pipelines use, so dbt builds in the very database they landed into.
    env = postgres_profile_env(settings.warehouse_postgres_dsn) if target == "postgres" else None
    # Unit tests pin the SQL on fixed rows and run in CI (tests/integration); the
    # nightly build runs the models and the data tests, which gate publishing.
    dbt_build(settings.warehouse_path.resolve(), target=target, env=env, unit_tests=False)


def run_validate(
    first: date, last: date, settings: Settings | None = None, run_id: str = "manual"
) -> dict:
    """The quality gate on the raw landings of days `first`..`last` (`pipelines.validate`):
    raises `ValidationFailed` naming every failed check and its offending rows; HTML
    reports go to `<var_dir>/validation/<run_id>/`. Returns {suite: rows checked}."""
    from pipelines import validate  # Great Expectations is heavy to import

    settings = settings or get_settings()
    report = validate.validate_raw(first, last, settings, run_id)
    return {suite.name: suite.rows for suite in report.suites}


def run_publish(day: date, settings: Settings | None = None) -> dict[str, int]:
    settings = settings or get_settings()
    with warehouse.connect(settings) as wh:
        return publish.publish_marts(wh, warehouse.dbt_build_schema(settings), day)


def run_dashboard(settings: Settings | None = None) -> str:
    """Redraw `settings.dashboard_path` from the marts just published (all days, every
    company); returns the path. Runs after publish so the page never shows marts that
    failed the gate."""
    from pipelines.dashboard import write_dashboard  # matplotlib is heavy to import

    settings = settings or get_settings()
    return str(write_dashboard(settings, out=settings.dashboard_path))
