"""Publish: swap freshly built marts into the `published` schema that readers use.

dbt builds into its target schema (`warehouse.dbt_build_schema`); analysts and BI
read `published`. The copy runs in one transaction on either engine (PostgreSQL DDL
is transactional too), so a reader sees yesterday's marts or today's, never a mix,
and a failed build never reaches them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pipelines.warehouse import Warehouse

PUBLISHED_SCHEMA = "published"
MARTS = ("e2e_daily",)


def publish_marts(wh: Warehouse, build_schema: str, day: date) -> dict[str, int]:
    counts: dict[str, int] = {}
    with wh.transaction():
        wh.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
        wh.execute(
            f"create table if not exists {PUBLISHED_SCHEMA}.publish_log"
            " (run_day date, mart varchar, row_count bigint, published_at timestamp)"
        )
        for mart in MARTS:
            count = wh.replace_table_as(f"{PUBLISHED_SCHEMA}.{mart}", f"{build_schema}.{mart}")
            wh.execute(
                f"insert into {PUBLISHED_SCHEMA}.publish_log values (%s, %s, %s, %s)",
                [day, mart, count, datetime.now(UTC).replace(tzinfo=None)],
            )
            counts[mart] = count
    return counts
