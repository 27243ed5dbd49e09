"""The warehouse connection. DuckDB is the default; one process may write at a time,
so every task opens, works, and closes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipelines.raw_schema import RAW_SCHEMA, create_raw_tables
from realtime.settings import Settings


@contextmanager
def connect(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(settings.warehouse_path))
    try:
        create_raw_tables(conn)
        yield conn
    finally:
        conn.close()


def day_bounds_utc(day: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC. DST-safe: both ends are localised."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: readers see the old partition or the new one, never half."""
    conn.execute("begin transaction")
    try:
        yield conn
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Append `frame` to a raw table, matching columns by name."""
    if not len(frame):
        return 0
    columns = [row[0] for row in conn.execute(f"describe {RAW_SCHEMA}.{table}").fetchall()]
    conn.register("incoming_rows", frame.reindex(columns=columns))
    try:
        conn.execute(
            f"insert into {RAW_SCHEMA}.{table} ({', '.join(columns)})"
            f" select {', '.join(columns)} from incoming_rows"
        )
    finally:
        conn.unregister("incoming_rows")
    return len(frame)


def replace_rows(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, where: str, params: list
) -> int:
    """Delete `where` from a raw table and insert `frame`. Call inside `transaction()`."""
    conn.execute(f"delete from {RAW_SCHEMA}.{table} where {where}", params)
    return insert_frame(conn, table, frame)


def naive_utc(value: datetime | None) -> datetime | None:
    """Warehouse timestamps are naive UTC (portable between DuckDB and PostgreSQL)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)
