"""Connector records → warehouse raw.

Spend replaces each (account, day) partition in the fetched window, because platforms
restate spend for days afterwards. Deals upsert by id, keeping the latest `updated_at`.
Either way one transaction per source: a failing source lands nothing half-way and
leaves what is already there untouched.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from connectors.base import CrmConnector, SpendConnector
from pipelines.warehouse import insert_frame, naive_utc, replace_rows, transaction


def land_ad_spend(
    conn: duckdb.DuckDBPyConnection, connector: SpendConnector, start: date, end: date
) -> int:
    # Fetch everything before touching the warehouse: a mid-stream API failure then
    # leaves the landed partitions exactly as they were.
    loaded_at = naive_utc(datetime.now(UTC))
    rows = [
        {**r.model_dump(), "_account": connector.account, "_loaded_at": loaded_at}
        for r in connector.fetch(start, end)
    ]
    with transaction(conn):
        return replace_rows(
            conn,
            "ad_spend",
            pd.DataFrame(rows),
            "_account = ? and date_day between ? and ?",
            [connector.account, start, end],
        )


def land_crm_deals(
    conn: duckdb.DuckDBPyConnection, connector: CrmConnector, updated_since: datetime
) -> int:
    loaded_at = naive_utc(datetime.now(UTC))
    latest: dict[tuple[str, str], dict] = {}
    for r in connector.fetch(updated_since):
        row = r.model_dump()
        for key in ("created_at", "updated_at", "closed_at"):
            row[key] = naive_utc(row[key])
        key = (r.crm, r.deal_id)
        if key not in latest or latest[key]["updated_at"] <= row["updated_at"]:
            latest[key] = {**row, "_account": connector.account, "_loaded_at": loaded_at}
    if not latest:
        return 0
    frame = pd.DataFrame(list(latest.values()))
    with transaction(conn):
        conn.register("incoming_deals", frame)
        try:
            # Drop stored versions that are not newer than what arrived, then insert
            # only arrivals that are at least as new as what stays.
            conn.execute(
                "delete from raw.crm_deals d using incoming_deals i"
                " where d.crm = i.crm and d.deal_id = i.deal_id and d.updated_at <= i.updated_at"
            )
            newer = conn.execute(
                "select i.* from incoming_deals i where not exists (select 1 from"
                " raw.crm_deals d where d.crm = i.crm and d.deal_id = i.deal_id)"
            ).df()
            return insert_frame(conn, "crm_deals", newer)
        finally:
            conn.unregister("incoming_deals")
