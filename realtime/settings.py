"""One settings class for every part of callpath, read from `CALLPATH_*` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLPATH_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Where embedded state lives.")
    event_store_url: str = Field(
        "sqlite:///var/events.sqlite3",
        description="`sqlite:///PATH` (embedded) or `mongodb://…` (production).",
    )
    mongodb_database: str = Field("callpath", description="Database name for a mongodb:// store.")
    pool_store_url: str = Field(
        "",
        description="Live pool state: empty means the event store; `redis://…` in production.",
    )
    warehouse: str = Field("duckdb", description="`duckdb` (default) or `postgres`.")
    warehouse_path: Path = Field(Path("var/warehouse.duckdb"), description="DuckDB warehouse file.")
    warehouse_postgres_dsn: str = Field(
        "postgresql://postgres@127.0.0.1:5432/test",
        description="PostgreSQL warehouse DSN, used when warehouse=postgres.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peers (IP or CIDR) whose X-Forwarded-For is believed. JSON list.",
    )
    session_timeout_minutes: int = Field(30, description="Inactivity that starts a new session.")
    lease_hold_minutes: int = Field(20, description="How long a number stays with a quiet session.")
    max_body_bytes: int = Field(65536, description="Larger request bodies get 413.")
    host: str = Field("127.0.0.1", description="`callpath serve` bind address.")
    port: int = Field(8000, description="`callpath serve` port.")
    fixtures_dir: Path = Field(
        Path("var/fixtures"), description="CSV spend and deal fixtures (skeleton connectors)."
    )
    spend_lookback_days: int = Field(3, description="Days of spend re-pulled each run.")
    deals_lookback_days: int = Field(7, description="Days of CRM changes re-pulled each run.")
    default_timezone: str = Field("Europe/Moscow", description="Time zone of new companies.")

    def sqlite_path(self) -> Path:
        return Path(self.event_store_url.removeprefix("sqlite:///"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
