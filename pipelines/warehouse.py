"""The warehouse: DuckDB (default, one file) or PostgreSQL (production), behind one API.

Pipelines talk to a `Warehouse`, never to a driver:

    with connect(settings) as wh:
        with wh.transaction():
            wh.replace_rows("sessions", frame, "company_id = %s and _day = %s", [cid, day])
        wh.fetchall("select count(*) from raw.sessions")

SQL passed in uses psycopg's placeholder style, `%s` (and `%%` for a literal percent
sign when there are parameters); the DuckDB implementation translates it to `?`.
Keep SQL to what both engines accept (plain ANSI: `delete ... using`, `create table
... as select`, `drop table if exists`).

DuckDB allows one writer process at a time, so every task opens, works, and closes.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from pipelines.raw_schema import RAW_SCHEMA, create_raw_tables
from realtime.settings import Settings

ENGINES = ("duckdb", "postgres")

# Where `dbt build` puts its models, per engine: the only place this mapping lives.
# DuckDB: the profile's `schema: main`. PostgreSQL: the profile's schema, which
# dbt/profiles.yml reads from CALLPATH_POSTGRES_SCHEMA (default `analytics`).
POSTGRES_SCHEMA_ENV = "CALLPATH_POSTGRES_SCHEMA"
_DEFAULT_BUILD_SCHEMAS = {"duckdb": "main", "postgres": "analytics"}

# Serialises raw-schema DDL across concurrent tasks on one PostgreSQL: two
# `create schema if not exists` racing each other can fail with a unique violation.
_DDL_LOCK_KEY = 0x63616C6C70617468  # "callpath"


def dbt_build_schema(settings: Settings) -> str:
    """The schema `dbt build` writes marts to for `settings.warehouse`."""
    engine = _engine(settings)
    if engine == "postgres":
        return os.environ.get(POSTGRES_SCHEMA_ENV) or _DEFAULT_BUILD_SCHEMAS[engine]
    return _DEFAULT_BUILD_SCHEMAS[engine]


def _engine(settings: Settings) -> str:
    engine = settings.warehouse.strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"CALLPATH_WAREHOUSE={settings.warehouse!r}: expected one of {ENGINES}")
    return engine


class Warehouse(ABC):
    """What pipelines need from a warehouse connection.

    Outside `transaction()` every statement commits on its own (autocommit).
    """

    engine: str

    def __init__(self) -> None:
        self._in_transaction = False

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement; returns a DB-API-like cursor (`fetchall`, `fetchone`)."""

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        return self.execute(sql, params).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """All-or-nothing: readers see the old partition or the new one, never half.
        A nested `transaction()` joins the outer one."""
        if self._in_transaction:
            yield self
            return
        self._in_transaction = True
        try:
            with self._transaction():
                yield self
        finally:
            self._in_transaction = False

    @abstractmethod
    def _transaction(self) -> Any: ...

    @abstractmethod
    def columns(self, relation: str) -> list[str]:
        """Column names of a table (schema-qualified, or a temp table), in order."""

    @abstractmethod
    def _insert(self, relation: str, columns: list[str], frame: pd.DataFrame) -> None: ...

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        """Append `frame` to a table, matching columns by name (missing ones are NULL).
        `table` is a raw table name (`sessions`) or a qualified/temp relation."""
        if not len(frame):
            return 0
        relation = _qualify(table)
        columns = self.columns(relation)
        self._insert(relation, columns, frame.reindex(columns=columns))
        return len(frame)

    def replace_rows(
        self, table: str, frame: pd.DataFrame, where_sql: str, params: Sequence[Any]
    ) -> int:
        """Delete `where_sql` from a raw table and insert `frame`. Call inside
        `transaction()` so readers never see the gap."""
        self.execute(f"delete from {_qualify(table)} where {where_sql}", params)
        return self.insert_frame(table, frame)

    @contextmanager
    def staged(self, frame: pd.DataFrame, like: str) -> Iterator[str]:
        """`frame` as a temporary table with the columns and types of `like`; yields
        its name, to join against in SQL. Dropped afterwards (or with the session)."""
        name = f"_staged_{uuid.uuid4().hex[:12]}"
        source = _qualify(like)
        self.execute(f"create temporary table {name} as select * from {source} where 1 = 0")
        self.insert_frame(name, frame)
        yield name
        # Not in a `finally`: after an error a PostgreSQL transaction refuses every
        # statement; its rollback (or the session's end) removes the table instead.
        self.execute(f"drop table if exists {name}")

    def replace_table_as(self, target: str, source: str) -> int:
        """Make `target` a copy of table or view `source`; returns the row count. Inside
        `transaction()` readers see the old copy or the new one."""
        self.execute(f"drop table if exists {target}")
        self.execute(f"create table {target} as select * from {source}")
        (count,) = self.fetchone(f"select count(*) from {target}")
        return int(count)

    @abstractmethod
    def close(self) -> None: ...


def _qualify(table: str) -> str:
    if "." in table or table.startswith("_staged_"):
        return table
    return f"{RAW_SCHEMA}.{table}"


# --- DuckDB -----------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%[s%]")


def _to_qmark(sql: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "?" if m.group() == "%s" else "%", sql)


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__()
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if params is None:
            return self.conn.execute(sql)
        return self.conn.execute(_to_qmark(sql), list(params))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.conn.execute("rollback")
            raise
        self.conn.execute("commit")

    def columns(self, relation: str) -> list[str]:
        return [row[0] for row in self.conn.execute(f"describe {relation}").fetchall()]

    def _insert(self, relation: str, columns: list[str], frame: pd.DataFrame) -> None:
        view = f"_incoming_{uuid.uuid4().hex[:12]}"
        self.conn.register(view, frame)
        try:
            names = ", ".join(columns)
            self.conn.execute(f"insert into {relation} ({names}) select {names} from {view}")
        finally:
            self.conn.unregister(view)

    def close(self) -> None:
        self.conn.close()


# --- PostgreSQL -------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))  # numpy NaN/NaT scalars
    except (TypeError, ValueError):
        return False


def _to_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # 75.5 -> Decimal("75.5"), not its binary expansion
    return Decimal(str(value))


def _to_naive_utc(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _to_aware(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.to_pydatetime()


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("t", "true", "1", "yes")
    return bool(value)


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# PostgreSQL type name -> Python value it is copied as. pandas turns a nullable int
# column into float64 and timestamps into pd.Timestamp; COPY needs the real type.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int2": _to_int,
    "int4": _to_int,
    "int8": _to_int,
    "numeric": _to_decimal,
    "float4": float,
    "float8": float,
    "bool": _to_bool,
    "date": _to_date,
    "timestamp": _to_naive_utc,
    "timestamptz": _to_aware,
    "varchar": _to_str,
    "text": _to_str,
    "bpchar": _to_str,
}


class PostgresWarehouse(Warehouse):
    engine = "postgres"

    def __init__(self, conn: Any) -> None:  # psycopg.Connection, autocommit=True
        super().__init__()
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.conn.execute(sql, None if params is None else list(params))

    def _transaction(self) -> Any:
        return self.conn.transaction()

    def _describe(self, relation: str) -> list[tuple[str, str]]:
        cursor = self.conn.execute(f"select * from {relation} where 1 = 0")
        types = self.conn.adapters.types
        result = []
        for column in cursor.description:
            info = types.get(column.type_code)
            result.append((column.name, info.name if info else ""))
        return result

    def columns(self, relation: str) -> list[str]:
        return [name for name, _ in self._describe(relation)]

    def _insert(self, relation: str, columns: list[str], frame: pd.DataFrame) -> None:
        converters = [
            _CONVERTERS.get(type_name, lambda v: v) for _, type_name in self._describe(relation)
        ]
        names = ", ".join(columns)
        copy_sql = f"copy {relation} ({names}) from stdin"
        with self.conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in frame.itertuples(index=False, name=None):
                copy.write_row(
                    [
                        None if _is_null(value) else convert(value)
                        for convert, value in zip(converters, row, strict=True)
                    ]
                )

    def close(self) -> None:
        self.conn.close()


# --- opening ----------------------------------------------------------------------


@contextmanager
def connect(settings: Settings) -> Iterator[Warehouse]:
    """Open the warehouse `settings.warehouse` names, with the raw schema in place."""
    if _engine(settings) == "postgres":
        import psycopg  # only PostgreSQL deployments need the driver loaded

        conn = psycopg.connect(settings.warehouse_postgres_dsn, autocommit=True)
        wh: Warehouse = PostgresWarehouse(conn)
        try:
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", [_DDL_LOCK_KEY])
                create_raw_tables(conn)
        except BaseException:
            conn.close()
            raise
    else:
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        wh = DuckDBWarehouse(duckdb.connect(str(settings.warehouse_path)))
        try:
            create_raw_tables(wh.conn)
        except BaseException:
            wh.close()
            raise
    try:
        yield wh
    finally:
        wh.close()


def naive_utc(value: datetime | None) -> datetime | None:
    """Warehouse timestamps are naive UTC (portable between DuckDB and PostgreSQL)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)
