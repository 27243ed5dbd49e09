"""Publish: swap freshly built marts into the `published` schema that readers use.

dbt builds into the target schema; analysts and BI read `published`. The copy runs in
one DuckDB transaction, so a reader sees yesterday's marts or today's, never a mix,
and a failed build never reaches them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb

PUBLISHED_SCHEMA = "published"
MARTS = ("e2e_daily",)


def publish_marts(conn: duckdb.DuckDBPyConnection, build_schema: str, day: date) -> dict[str, int]:
    counts: dict[str, int] = {}
    conn.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
    conn.execute(
        f"create table if not exists {PUBLISHED_SCHEMA}.publish_log"
        " (run_day date, mart varchar, row_count bigint, published_at timestamp)"
    )
    conn.execute("begin transaction")
    try:
        for mart in MARTS:
            conn.execute(
                f"create or replace table {PUBLISHED_SCHEMA}.{mart} as"
                f" select * from {build_schema}.{mart}"
            )
            (count,) = conn.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{mart}").fetchone()
            conn.execute(
                f"insert into {PUBLISHED_SCHEMA}.publish_log values (?, ?, ?, ?)",
                [day, mart, count, datetime.now(UTC).replace(tzinfo=None)],
            )
            counts[mart] = count
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return counts
