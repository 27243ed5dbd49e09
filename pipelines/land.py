"""Connector records → warehouse raw, one raw table per source: `ad_spend_<platform>`,
`crm_deals_<crm>`, `crm_contacts_<crm>` (DDL in pipelines/raw_schema.py).

Spend replaces each (account, day) partition in the fetched window, because platforms
restate spend for days afterwards. Deals and contacts upsert by (account, id), keeping
the version with the latest `updated_at`; a contact is one row per phone, and the
phones of a version replace all stored phones of that contact. Every source is
fetched in full before the warehouse is touched and landed in one transaction: a
failing source lands nothing half-way and leaves what is already there untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from connectors.base import ContactRecord, CrmConnector, DealRecord, SpendConnector
from pipelines.raw_schema import RAW_SCHEMA, RAW_TABLES, SPEND_PLATFORMS
from pipelines.warehouse import Warehouse, naive_utc


def _raw_table(prefix: str, source: str) -> str:
    table = f"{prefix}_{source}"
    if table not in RAW_TABLES:
        raise ValueError(
            f"no raw table {RAW_SCHEMA}.{table} for {source!r}: add it to pipelines/raw_schema.py"
        )
    return table


def land_ad_spend(wh: Warehouse, connector: SpendConnector, start: date, end: date) -> int:
    """Replace the connector's (`_account`, `date_day` in [start, end]) window of
    `raw.ad_spend_<platform>` with what it reports now; returns the rows landed.

    A connector that declares its `platform` owns that table only. One that does not
    (the CSV fixture, several platforms in one file) owns its account's window in every
    platform's table, so a day it no longer reports is emptied there as well."""
    declared = getattr(connector, "platform", None)
    loaded_at = naive_utc(datetime.now(UTC))
    rows: dict[str, list[dict]] = {
        _raw_table("ad_spend", p): [] for p in ([declared] if declared else SPEND_PLATFORMS)
    }
    # Fetch everything before touching the warehouse: a mid-stream API failure then
    # leaves the landed partitions exactly as they were.
    for r in connector.fetch(start, end):
        if declared and r.platform != declared:
            raise ValueError(
                f"{connector.source} [{connector.account}] declares platform {declared!r}"
                f" but reported a {r.platform!r} record"
            )
        row = {**r.model_dump(), "_account": connector.account, "_loaded_at": loaded_at}
        rows[_raw_table("ad_spend", r.platform)].append(row)
    with wh.transaction():
        return sum(
            wh.replace_rows(
                table,
                pd.DataFrame(table_rows),
                "_account = %s and date_day between %s and %s",
                [connector.account, start, end],
            )
            for table, table_rows in rows.items()
        )


def land_crm_deals(wh: Warehouse, connector: CrmConnector, updated_since: datetime) -> int:
    """Upsert deals changed since `updated_since` into `raw.crm_deals_<crm>`; returns
    the deals landed (arrivals older than the stored version are not)."""
    return _upsert_latest(
        wh, connector, "crm_deals", "deal_id", connector.fetch(updated_since), _deal_rows
    )


def land_crm_contacts(wh: Warehouse, connector: CrmConnector, updated_since: datetime) -> int:
    """Upsert contacts changed since `updated_since` into `raw.crm_contacts_<crm>`, one
    row per phone; returns the phone rows landed. A contact that arrives with no
    phones loses its stored ones."""
    return _upsert_latest(
        wh,
        connector,
        "crm_contacts",
        "contact_id",
        connector.fetch_contacts(updated_since),
        _contact_rows,
    )


def _deal_rows(record: DealRecord) -> list[dict]:
    row = record.model_dump()
    for key in ("created_at", "updated_at", "closed_at"):
        row[key] = naive_utc(row[key])
    return [row]


def _contact_rows(record: ContactRecord) -> list[dict]:
    contact = {**record.model_dump(exclude={"phones"}), "updated_at": naive_utc(record.updated_at)}
    phones = dict.fromkeys(phone for phone in record.phones if phone)  # ordered, no repeats
    return [{**contact, "phone": phone} for phone in phones]


def _upsert_latest(
    wh: Warehouse,
    connector: CrmConnector,
    prefix: str,
    id_column: str,
    records: Iterable[Any],
    to_rows: Callable[[Any], list[dict]],
) -> int:
    """Land CRM records into `raw.<prefix>_<record.crm>`, keyed by (`crm`, `_account`,
    `id_column`). The rows of a record (`to_rows`) replace all stored rows of its key
    when its `updated_at` is at least the stored one; otherwise they are dropped."""
    loaded_at = naive_utc(datetime.now(UTC))
    latest: dict[str, dict[str, list[dict]]] = {}  # table -> record id -> rows
    for record in records:
        version = {
            "crm": record.crm,
            id_column: getattr(record, id_column),
            "company_id": record.company_id,
            "updated_at": naive_utc(record.updated_at),
            "_account": connector.account,
        }
        meta = {"_account": connector.account, "_loaded_at": loaded_at}
        rows = [{**row, **meta} for row in to_rows(record)]
        # A version without rows (a contact whose phones were all removed) still
        # replaces older stored rows: it is staged as one marker row without
        # `_loaded_at` (staged tables carry no NOT NULL), which is never inserted.
        by_id = latest.setdefault(_raw_table(prefix, record.crm), {})
        kept = by_id.get(version[id_column])  # an earlier version in this batch
        if kept is None or kept[0]["updated_at"] <= version["updated_at"]:
            by_id[version[id_column]] = rows or [version]
    if not latest:
        return 0
    match = " and ".join(f"d.{c} = i.{c}" for c in ("crm", "_account", id_column))
    landed = 0
    with wh.transaction():
        for table, by_id in latest.items():
            relation = f"{RAW_SCHEMA}.{table}"
            frame = pd.DataFrame([row for rows in by_id.values() for row in rows])
            columns = ", ".join(wh.columns(relation))
            with wh.staged(frame, like=relation) as incoming:
                # Drop stored versions that are not newer than what arrived, then
                # insert only arrivals that are at least as new as what stays.
                wh.execute(
                    f"delete from {relation} d using {incoming} i"
                    f" where {match} and d.updated_at <= i.updated_at"
                )
                newer = (
                    f"from {incoming} i where i._loaded_at is not null"
                    f" and not exists (select 1 from {relation} d where {match})"
                )
                (count,) = wh.fetchone(f"select count(*) {newer}")
                wh.execute(f"insert into {relation} ({columns}) select {columns} {newer}")
                landed += int(count)
    return landed
