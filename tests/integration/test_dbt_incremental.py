"""int_sessions__channels (which fct_sessions shows) and fct_calls are incremental
by day. Building day by day, with a late event landing in a day already built, must
give exactly what one full build of the same raw data gives, down to every mart row."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.raw_schema import RAW_TABLES
from pipelines.transform import dbt_build
from tests.integration.test_dbt_build import (
    D1,
    POSTGRES_DSN,
    RAW_ROWS,
    _insert_rows,
    _load_duckdb,
    _postgres_available,
    _session,
)

pytestmark = pytest.mark.slow

MARTS = ("fct_sessions", "fct_calls", "fct_leads", "e2e_daily", "pool_daily")


def _split(rows_by_table: dict[str, list[dict]], day: date) -> tuple[dict, dict]:
    """Raw rows up to `day` (partitioned tables) and all the rest."""
    first: dict[str, list[dict]] = {}
    rest: dict[str, list[dict]] = {}
    for table, rows in rows_by_table.items():
        for row in rows:
            early = "_day" in row and row["_day"] <= day
            (first if early else rest).setdefault(table, []).append(row)
    return first, rest


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            mart: sorted(conn.execute(f"select * from main.{mart}").fetchall(), key=repr)
            for mart in MARTS
        }


def _is_incremental_table(path: Path, model: str) -> bool:
    with duckdb.connect(str(path), read_only=True) as conn:
        [(kind,)] = conn.execute(
            "select table_type from information_schema.tables"
            " where table_schema = 'main' and table_name = ?",
            [model],
        ).fetchall()
    return kind == "BASE TABLE"


def test_day_by_day_incremental_build_equals_a_full_build(tmp_path):
    late = _session("s_late", D1, "23:30", source="yandex", medium="cpc", campaign="70112233")
    everything = {**RAW_ROWS, "sessions": [*RAW_ROWS["sessions"], late]}
    first_day, later = _split(RAW_ROWS, D1)
    later = {**later, "sessions": [*later.get("sessions", []), late]}

    incremental = tmp_path / "incremental.duckdb"
    _load_duckdb(incremental, first_day)
    dbt_build(incremental)
    with duckdb.connect(str(incremental), read_only=True) as conn:
        [(built_first,)] = conn.execute("select count(*) from main.fct_sessions").fetchall()
    # the second day arrives, and a first-day session that landed late with it
    _load_duckdb(incremental, later)
    dbt_build(incremental)

    full = tmp_path / "full.duckdb"
    _load_duckdb(full, everything)
    dbt_build(full)

    assert built_first == sum(1 for row in RAW_ROWS["sessions"] if row["_day"] == D1)
    assert _is_incremental_table(incremental, "int_sessions__channels")
    incremental_marts, full_marts = _snapshot(incremental), _snapshot(full)
    assert "s_late" in {row[0] for row in incremental_marts["fct_sessions"]}
    assert incremental_marts == full_marts


# --- PostgreSQL -----------------------------------------------------------------


@pytest.mark.skipif(not _postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_day_by_day_incremental_build_equals_a_full_build_on_postgres(tmp_path, monkeypatch):
    import psycopg

    late = _session("s_late", D1, "23:30", source="yandex", medium="cpc", campaign="70112233")
    first_day, later = _split(RAW_ROWS, D1)
    later = {**later, "sessions": [*later.get("sessions", []), late]}
    suffix = uuid.uuid4().hex[:8]
    raw_schema = f"raw_{suffix}"
    incremental, full = f"incremental_{suffix}", f"full_{suffix}"

    def build(schema: str) -> None:
        monkeypatch.setenv("CALLPATH_POSTGRES_SCHEMA", schema)
        dbt_build(tmp_path / "unused.duckdb", target="postgres", vars={"raw_schema": raw_schema})

    def marts(conn, schema: str) -> dict[str, list[tuple]]:
        return {
            mart: sorted(conn.execute(f"select * from {schema}.{mart}").fetchall(), key=repr)
            for mart in MARTS
        }

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        try:
            conn.execute(f"create schema {raw_schema}")
            for table, columns in RAW_TABLES.items():
                conn.execute(f"create table {raw_schema}.{table} ({columns})")
            _insert_rows(conn, raw_schema, first_day, "%s")
            build(incremental)
            _insert_rows(conn, raw_schema, later, "%s")
            build(incremental)
            build(full)
            incremental_marts, full_marts = marts(conn, incremental), marts(conn, full)
        finally:
            for schema in (incremental, full, raw_schema):
                conn.execute(f"drop schema if exists {schema} cascade")
    assert "s_late" in {row[0] for row in incremental_marts["fct_sessions"]}
    assert incremental_marts == full_marts
