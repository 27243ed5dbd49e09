"""The dbt project gives the same marts on DuckDB and on PostgreSQL.

One small raw dataset from the benchmark generator (a few days of one company:
sessions, leases, calls matched and unmatched, forms, callbacks, spend on both
platforms, deals in both CRMs) is landed in a DuckDB file and in a throwaway
PostgreSQL schema, `dbt build` runs on both, and every model under models/marts
(read from the dbt manifest, so a new mart is compared without touching this
file) must hold the same rows: text, dates and counts exactly, numbers within
rounding, timestamps as UTC instants.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest

from benchmarks.generate_raw import Config, write
from pipelines.raw_schema import RAW_TABLES
from pipelines.transform import dbt_artifacts_dir, dbt_build

pytestmark = pytest.mark.slow

SERVER_DSN = os.environ.get(
    "CALLPATH_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)

# Enough rows for every kind of fact, few enough for two builds well under a minute:
# high call, form and deal rates so each day has matched, shared-lease, no-lease,
# stray and static calls, leads of every kind and won deals.
SMALL = Config(
    days=4,
    sessions_per_day=400,
    seed=2026,
    shared_lease_rate=0.03,
    call_rate=0.08,
    no_lease_share=0.1,
    stray_share=0.05,
    static_share=0.08,
    form_rate=0.03,
    callback_rate=0.02,
    deal_rate=0.5,
)

# Models only: the data tests and unit tests pin semantics elsewhere
# (tests/integration/test_dbt_build.py); here they would triple the run time. `build`
# adds the tests of selected models back (indirect selection) unless told not to.
MODELS_ONLY = "resource_type:model"
NO_TESTS_ENV = {"DBT_INDIRECT_SELECTION": "empty"}

ABS_TOLERANCE = 0.005  # money is numeric(18,2); ratios are doubles
REL_TOLERANCE = 1e-9


def _mart_models(manifest_path: Path) -> list[str]:
    manifest = json.loads(manifest_path.read_text())
    return sorted(
        node["alias"] or node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith("models/marts/")
    )


def _normalise(value):
    """One comparable form per value, whichever engine and driver produced it."""
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _fractional_columns(*row_sets: list[tuple]) -> set[int]:
    return {
        index
        for rows in row_sets
        for row in rows
        for index, value in enumerate(row)
        if isinstance(value, float)
    }


def _sorted(rows: list[tuple], fractional: set[int]) -> list[tuple]:
    """Rows ordered by their exact columns first, then by their rounded numbers, so
    rows pair up across engines even where the last digits of a number differ."""

    def key(row: tuple) -> list:
        exact = [(1, "") if v is None else (0, v)
                 for i, v in enumerate(row) if i not in fractional]  # fmt: skip
        rounded = [(1, 0.0) if row[i] is None else (0, round(row[i], 2))
                   for i in sorted(fractional)]  # fmt: skip
        return exact + rounded

    return sorted(rows, key=key)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
    return a == b


def _differences(model: str, columns: list[str], duck: list[tuple], pg: list[tuple]) -> list:
    if len(duck) != len(pg):
        return [f"{model}: {len(duck)} rows on DuckDB, {len(pg)} on PostgreSQL"]
    found = []
    for index, (left, right) in enumerate(zip(duck, pg, strict=True)):
        for column, a, b in zip(columns, left, right, strict=True):
            if not _same(a, b):
                found.append(f"{model} row {index} {column}: DuckDB {a!r} != PostgreSQL {b!r}")
    return found[:20]


@pytest.fixture(scope="module")
def postgres_server() -> str:
    try:
        with psycopg.connect(SERVER_DSN, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {SERVER_DSN} ({exc}); start it with `make services`",
            pytrace=False,
        )
    return SERVER_DSN


def _copy_raw_to_postgres(duck_path: Path, conn: psycopg.Connection, schema: str) -> int:
    conn.execute(f"create schema {schema}")
    copied = 0
    with duckdb.connect(str(duck_path), read_only=True) as duck:
        for table, columns in RAW_TABLES.items():
            conn.execute(f"create table {schema}.{table} ({columns})")
            rows = duck.execute(f"select * from raw.{table}").fetchall()
            names = [d[0] for d in duck.description]
            with conn.cursor() as cursor:
                copy_sql = f"copy {schema}.{table} ({', '.join(names)}) from stdin"
                with cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            copied += len(rows)
    return copied


def test_every_mart_has_the_same_rows_on_duckdb_and_postgres(tmp_path, postgres_server):
    duck_path = tmp_path / "warehouse.duckdb"
    write(duck_path, SMALL)
    suffix = uuid.uuid4().hex[:10]
    raw_schema, build_schema = f"raw_agree_{suffix}", f"analytics_agree_{suffix}"

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        try:
            assert _copy_raw_to_postgres(duck_path, conn, raw_schema) > 0
            dbt_build(duck_path, select=MODELS_ONLY, env=NO_TESTS_ENV)
            dbt_build(
                tmp_path / "unused.duckdb",
                target="postgres",
                select=MODELS_ONLY,
                vars={"raw_schema": raw_schema},
                env={"CALLPATH_POSTGRES_SCHEMA": build_schema, **NO_TESTS_ENV},
            )
            marts = _mart_models(dbt_artifacts_dir(duck_path, "duckdb") / "target/manifest.json")
            pg_marts = _mart_models(
                dbt_artifacts_dir(tmp_path / "unused.duckdb", "postgres") / "target/manifest.json"
            )
            assert marts == pg_marts
            assert "e2e_daily" in marts

            problems, compared = [], {}
            with duckdb.connect(str(duck_path), read_only=True) as duck:
                for model in marts:
                    cursor = duck.execute(f"select * from main.{model}")
                    columns = [d[0] for d in cursor.description]
                    duck_rows = [tuple(map(_normalise, row)) for row in cursor.fetchall()]
                    pg_cursor = conn.execute(f"select * from {build_schema}.{model}")
                    pg_columns = [d.name for d in pg_cursor.description]
                    assert pg_columns == columns, model
                    pg_rows = [tuple(map(_normalise, row)) for row in pg_cursor.fetchall()]
                    fractional = _fractional_columns(duck_rows, pg_rows)
                    duck_rows = _sorted(duck_rows, fractional)
                    pg_rows = _sorted(pg_rows, fractional)
                    compared[model] = len(duck_rows)
                    problems += _differences(model, columns, duck_rows, pg_rows)
            assert problems == []
            # the comparison compared something: the big marts have rows
            for model in ("e2e_daily", "fct_sessions", "fct_calls", "fct_leads"):
                if model in compared:
                    assert compared[model] > 0, model
        finally:
            conn.execute(f"drop schema if exists {build_schema} cascade")
            conn.execute(f"drop schema if exists {raw_schema} cascade")
