"""Connector records → warehouse raw.

Spend replaces each (account, day) partition in the fetched window, because platforms
restate spend for days afterwards. Deals upsert by id, keeping the latest `updated_at`.
Either way one transaction per source: a failing source lands nothing half-way and
leaves what is already there untouched.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from connectors.base import CrmConnector, SpendConnector
from pipelines.warehouse import Warehouse, naive_utc


def land_ad_spend(wh: Warehouse, connector: SpendConnector, start: date, end: date) -> int:
    # Fetch everything before touching the warehouse: a mid-stream API failure then
    # leaves the landed partitions exactly as they were.
    loaded_at = naive_utc(datetime.now(UTC))
    rows = [
        {**r.model_dump(), "_account": connector.account, "_loaded_at": loaded_at}
        for r in connector.fetch(start, end)
    ]
    with wh.transaction():
        return wh.replace_rows(
            "ad_spend",
            pd.DataFrame(rows),
            "_account = %s and date_day between %s and %s",
            [connector.account, start, end],
        )


def land_crm_deals(wh: Warehouse, connector: CrmConnector, updated_since: datetime) -> int:
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
    columns = ", ".join(wh.columns("raw.crm_deals"))
    with wh.transaction(), wh.staged(frame, like="raw.crm_deals") as incoming:
        # Drop stored versions that are not newer than what arrived, then insert
        # only arrivals that are at least as new as what stays.
        wh.execute(
            f"delete from raw.crm_deals d using {incoming} i"
            " where d.crm = i.crm and d.deal_id = i.deal_id and d.updated_at <= i.updated_at"
        )
        newer = (
            f"from {incoming} i where not exists"
            " (select 1 from raw.crm_deals d where d.crm = i.crm and d.deal_id = i.deal_id)"
        )
        (count,) = wh.fetchone(f"select count(*) {newer}")
        wh.execute(f"insert into raw.crm_deals ({columns}) select {columns} {newer}")
        return int(count)
