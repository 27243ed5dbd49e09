"""Which sources are configured: every connector `from_env()` (`CALLPATH_<SOURCE>_*`)
reports, one per account, customer or login. A source without its variables is
absent; a source configured wrongly raises its `SourceError` when built.

`spend_sources()` / `crm_sources()` keep the sources apart (name, builder), so the daily
job can build and land each in its own try; `spend_connectors()` / `crm_connectors()`
build them all at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from connectors.base import CrmConnector, SpendConnector

C = TypeVar("C")


@dataclass(frozen=True)
class Source(Generic[C]):
    name: str
    build: Callable[[], list[C]]  # [] when the source is not configured


def _yandex_direct() -> list[SpendConnector]:
    from connectors.yandex_direct import YandexDirectConfig, YandexDirectConnector

    config = YandexDirectConfig.from_env()
    return list(YandexDirectConnector.for_each_login(config)) if config else []


def _google_ads() -> list[SpendConnector]:
    # The google-ads package is heavy to import: only when the source is configured.
    from connectors.google_ads import GoogleAdsConfig, GoogleAdsConnector

    config = GoogleAdsConfig.from_env()
    return list(GoogleAdsConnector.for_each_customer(config)) if config else []


def _amocrm() -> list[CrmConnector]:
    from connectors.amocrm import AmoCrmConfig, AmoCrmConnector

    config = AmoCrmConfig.from_env()
    return [AmoCrmConnector(config)] if config else []


def _bitrix24() -> list[CrmConnector]:
    from connectors.bitrix24 import Bitrix24Config, Bitrix24Connector

    config = Bitrix24Config.from_env()
    return [Bitrix24Connector(config)] if config else []


def spend_sources() -> list[Source[SpendConnector]]:
    return [Source("yandex_direct", _yandex_direct), Source("google_ads", _google_ads)]


def crm_sources() -> list[Source[CrmConnector]]:
    return [Source("amocrm", _amocrm), Source("bitrix24", _bitrix24)]


def spend_connectors() -> list[SpendConnector]:
    """A connector per configured ad account (Yandex.Direct login, Google Ads customer)."""
    return [c for source in spend_sources() for c in source.build()]


def crm_connectors() -> list[CrmConnector]:
    """A connector per configured CRM account (amoCRM, Bitrix24)."""
    return [c for source in crm_sources() for c in source.build()]
