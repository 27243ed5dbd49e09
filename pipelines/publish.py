"""Publish: swap freshly built marts into the `published` schema that readers use.

dbt builds into its target schema (`warehouse.dbt_build_schema`, the staging area);
analysts, BI and the dashboard read `published`. Every mart dbt materialised there
(the models in dbt/models/marts; intermediate tables are dbt's working state and stay
behind) is copied into `published`
in one transaction on either engine (PostgreSQL DDL is transactional too, DuckDB's
as well), so a reader sees the previous marts or the new ones, never a mix, and a
build that failed its quality gate or its dbt tests never reaches them: the
`publish` task only runs after both succeeded. `published.publish_log` keeps one row
per mart and publish.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from pipelines.warehouse import Warehouse

PUBLISHED_SCHEMA = "published"
REQUIRED_MARTS = ("e2e_daily",)  # a build without these is not published at all


# What readers may see: the models in dbt/models/marts. Intermediate models are tables
# too (for build speed) but are dbt's working state, not a published interface.
MARTS_DIR = Path(__file__).resolve().parent.parent / "dbt" / "models" / "marts"


def mart_names() -> set[str]:
    """The mart models of the dbt project, by name."""
    return {path.stem for path in MARTS_DIR.glob("*.sql")}


def built_marts(wh: Warehouse, build_schema: str) -> list[str]:
    """The marts (not intermediate models) in the dbt build schema.

    Tables and views alike: fct_sessions is a view of the table that stores sessions
    (int_sessions__channels), and publishing turns every mart into a table.
    """
    rows = wh.fetchall(
        "select table_name from information_schema.tables"
        " where table_schema = %s and table_type in ('BASE TABLE', 'VIEW')"
        " order by table_name",
        [build_schema],
    )
    marts = mart_names()
    return [name for (name,) in rows if name in marts]


def publish_marts(wh: Warehouse, build_schema: str, day: date) -> dict[str, int]:
    """Copy every built mart into `published` atomically; returns {mart: rows}."""
    marts = built_marts(wh, build_schema)
    missing = [m for m in REQUIRED_MARTS if m not in marts]
    if missing:
        raise LookupError(
            f"nothing published: {', '.join(missing)} not built in schema {build_schema!r}"
        )
    counts: dict[str, int] = {}
    published_at = datetime.now(UTC).replace(tzinfo=None)
    with wh.transaction():
        wh.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
        wh.execute(
            f"create table if not exists {PUBLISHED_SCHEMA}.publish_log"
            " (run_day date, mart varchar, row_count bigint, published_at timestamp)"
        )
        for mart in marts:
            count = wh.replace_table_as(f"{PUBLISHED_SCHEMA}.{mart}", f"{build_schema}.{mart}")
            wh.execute(
                f"insert into {PUBLISHED_SCHEMA}.publish_log values (%s, %s, %s, %s)",
                [day, mart, count, published_at],
            )
            counts[mart] = count
    return counts
