"""One settings class for every part of callpath, read from `CALLPATH_*` variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLPATH_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Where embedded state lives.")
    dashboard_path: Path = Field(
        Path("reports/dashboard.html"),
        description="The offline HTML dashboard every analytics build rewrites.",
    )
    event_store_url: str = Field(
        "sqlite:///var/events.sqlite3",
        description="`sqlite:///PATH` (embedded) or `mongodb://…` (production).",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite stores: `full` survives power loss; `normal` only a killed process.",
    )
    mongodb_database: str = Field("callpath", description="Database name for a mongodb:// store.")
    pool_store_url: str = Field(
        "sqlite:///var/pool.sqlite3",
        description="Live pool state: `sqlite:///PATH` (embedded) or `redis://…` (production).",
    )
    geoip_path: Path | None = Field(
        None, description="MaxMind .mmdb (GeoLite2-City) for visitor regions; unset = site default."
    )
    pool_binding_days: int = Field(
        14, description="A number stays bound this long after its last call or show."
    )
    pool_quarantine_min_days: int = Field(90, description="Quarantine when inventory is scarce.")
    pool_quarantine_max_days: int = Field(180, description="Quarantine when inventory is ample.")
    pool_quarantine_ample_free_ratio: float = Field(
        0.25, description="Free share of a region's inventory at which quarantine is longest."
    )
    new_sessions_per_ip_per_minute: int = Field(
        30, description="Above this, an IP gets the site's fallback number (bot defence)."
    )
    advisor_target_blocking: float = Field(
        0.01, description="Sizing advisor: acceptable chance a visitor finds no free number."
    )
    warehouse: str = Field("duckdb", description="`duckdb` (default) or `postgres`.")
    warehouse_path: Path = Field(Path("var/warehouse.duckdb"), description="DuckDB warehouse file.")
    warehouse_postgres_dsn: str = Field(
        "postgresql://postgres@127.0.0.1:5432/test",
        description="PostgreSQL warehouse DSN, used when warehouse=postgres.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Peers (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed.",
    )
    session_timeout_minutes: int = Field(30, description="Inactivity that starts a new session.")
    max_body_bytes: int = Field(65536, description="Larger request bodies get 413.")
    host: str = Field("127.0.0.1", description="`callpath serve` bind address.")
    port: int = Field(8000, description="`callpath serve` port.")
    spend_lookback_days: int = Field(3, description="Days of spend re-pulled each run.")
    deals_lookback_days: int = Field(7, description="Days of CRM changes re-pulled each run.")
    dbt_tasks: Literal["build", "cosmos"] = Field(
        "build",
        description="`build`: one `dbt build` task; `cosmos`: a task per dbt model and test.",
    )
    alert_webhook_url: str | None = Field(
        None, description="A failed pipeline task POSTs a JSON alert here; unset = log only."
    )
    default_timezone: str = Field("Europe/Moscow", description="Time zone of new companies.")
    webhooks_worker_enabled: bool = Field(
        True, description="Run the webhook delivery worker inside `callpath serve`."
    )
    webhooks_poll_seconds: float = Field(
        1.0, description="Webhook worker: pause between polls when nothing is due."
    )
    webhooks_timeout_seconds: float = Field(
        10.0, description="Webhook worker: one delivery attempt's whole time limit."
    )
    webhooks_concurrency: int = Field(
        32, description="Webhook worker: deliveries in flight at once (and messages per claim)."
    )
    webhooks_per_subscription_concurrency: int = Field(
        4, description="Webhook worker: deliveries in flight at once to one subscription."
    )
    webhooks_backoff_base_seconds: float = Field(
        10.0, description="Webhook retries: full-jitter backoff base, doubled per attempt."
    )
    webhooks_backoff_cap_seconds: float = Field(
        3600.0, description="Webhook retries: the longest wait between two attempts."
    )
    webhooks_backoff_floor_seconds: float = Field(
        2.0, description="Webhook retries: the shortest wait between two attempts."
    )
    webhooks_retry_window_hours: float = Field(
        24.0, description="A webhook still failing this long after it was queued goes dead."
    )
    webhooks_allow_private_targets: bool = Field(
        False,
        description="Allow webhook URLs on loopback/private networks (SSRF risk; dev and tests).",
    )
    mango_api_url: str = Field(
        "https://app.mango-office.ru/vpbx",
        description="Mango VPBX API base for commands (`/commands/route`, `/commands/callback`).",
    )
    mango_command_timeout_seconds: float = Field(
        2.0, description="Mango commands: one request's whole time limit."
    )
    mango_route_interval_seconds: float = Field(
        2.0, description="Mango allows one `commands/route` per this many seconds per product."
    )
    redirect_max_delay_seconds: float = Field(
        4.0,
        description="Smart redirect: a route command not sent this long after its event is "
        "dropped (the greeting is over).",
    )
    auto_callback_poll_seconds: float = Field(
        5.0, description="Missed calls: how often due automatic callbacks are looked for."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
        else:
            items = value
        for item in items or []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"CALLPATH_TRUSTED_PROXIES: {item!r} is not an IP or CIDR"
                ) from exc
        return items

    def sqlite_path(self) -> Path:
        return Path(self.event_store_url.removeprefix("sqlite:///"))

    def pool_policy(self):
        from realtime.pool.models import PoolPolicy

        return PoolPolicy(
            binding_days=self.pool_binding_days,
            quarantine_min_days=self.pool_quarantine_min_days,
            quarantine_max_days=self.pool_quarantine_max_days,
            quarantine_ample_free_ratio=self.pool_quarantine_ample_free_ratio,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
