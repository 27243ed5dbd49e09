"""SQLite pool store: the embedded default. Every decision runs in one
`BEGIN IMMEDIATE` transaction, so two requests can never take the same number."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from realtime.domain import to_ms
from realtime.pool.models import (
    Grant,
    InventoryNumber,
    NumberState,
    PoolPolicy,
    PoolStats,
    RegionStats,
    Release,
)
from realtime.store.sqlite import SQLiteDatabase, from_text, to_text

# Empty text sorts before every timestamp: "never" compares as "long ago".
SCHEMA = """
create table if not exists pool_numbers (
    number text primary key,
    region text not null,
    city_code text,
    kind text not null,
    channel text,
    company_id text,
    bound_at text,
    last_shown_at text not null default '',
    last_call_at text not null default '',
    quarantine_until text not null default '',
    former_company_id text,
    leased_until text not null default '',
    session_id text);
-- `number` closes both indexes so "first free, ties by number" is an index walk, not a sort.
create index if not exists pool_bound_v2
    on pool_numbers (company_id, kind, region, leased_until, number);
create index if not exists pool_inventory_v2
    on pool_numbers (kind, region, company_id, quarantine_until, number);
create table if not exists pool_bindings (
    number text not null, company_id text not null, bound_at text not null,
    released_at text, quarantine_until text);
create index if not exists pool_bindings_by_number on pool_bindings (number, bound_at);
create table if not exists pool_exhaustion (
    company_id text not null, region text, at text not null);
create index if not exists pool_exhaustion_by_company on pool_exhaustion (company_id, at);
create table if not exists rate_windows (
    key text not null, window integer not null, hits integer not null,
    primary key (key, window));
"""

COLUMNS = (
    "number, region, city_code, kind, channel, company_id, bound_at, last_shown_at, "
    "last_call_at, quarantine_until, former_company_id, leased_until, session_id"
)


def _state(row: tuple) -> NumberState:
    (
        number,
        region,
        city_code,
        kind,
        channel,
        company_id,
        bound_at,
        last_shown_at,
        last_call_at,
        quarantine_until,
        former_company_id,
        leased_until,
        session_id,
    ) = row
    return NumberState(
        number=number,
        region=region,
        city_code=city_code,
        kind=kind,
        channel=channel,
        company_id=company_id,
        bound_at=from_text(bound_at),
        last_shown_at=from_text(last_shown_at),
        last_call_at=from_text(last_call_at),
        quarantine_until=from_text(quarantine_until),
        former_company_id=former_company_id,
        leased_until=from_text(leased_until),
        session_id=session_id,
    )


class SQLitePoolStore(SQLiteDatabase):
    def __init__(self, path: Path | str, synchronous: str = "full") -> None:
        super().__init__(path, SCHEMA, synchronous)

    def import_numbers(self, numbers: list[InventoryNumber]) -> int:
        added = 0
        with self._tx() as c:
            for n in numbers:
                cur = c.execute(
                    "insert or ignore into pool_numbers"
                    " (number, region, city_code, kind, channel, company_id)"
                    " values (?, ?, ?, ?, ?, ?)",
                    (
                        n.number,
                        n.region,
                        n.city_code,
                        n.kind,
                        n.channel,
                        n.company_id if n.kind == "static" else None,
                    ),
                )
                added += cur.rowcount
        return added

    def acquire(
        self,
        company_id: str,
        session_id: str,
        regions: list[str],
        now: datetime,
        until: datetime,
        share_when_exhausted: bool,
    ) -> Grant:
        now_s, until_s = to_text(now), to_text(until)
        with self._tx() as c:
            for region in regions:
                row = c.execute(
                    "select number from pool_numbers where company_id = ? and kind = 'dynamic'"
                    " and region = ? and leased_until <= ? order by leased_until, number limit 1",
                    (company_id, region, now_s),
                ).fetchone()
                if row:
                    return self._lease(c, row[0], region, session_id, now_s, until_s, "free")
                row = c.execute(
                    "select number from pool_numbers where company_id is null and kind = 'dynamic'"
                    " and region = ? and quarantine_until <= ?"
                    " order by quarantine_until, number limit 1",
                    (region, now_s),
                ).fetchone()
                if row:
                    c.execute(
                        "update pool_numbers set company_id = ?, bound_at = ?,"
                        " former_company_id = null, quarantine_until = '' where number = ?",
                        (company_id, now_s, row[0]),
                    )
                    c.execute(
                        "insert into pool_bindings (number, company_id, bound_at) values (?, ?, ?)",
                        (row[0], company_id, now_s),
                    )
                    return self._lease(c, row[0], region, session_id, now_s, until_s, "grown")
            c.execute(
                "insert into pool_exhaustion (company_id, region, at) values (?, ?, ?)",
                (company_id, regions[0] if regions else None, now_s),
            )
            if share_when_exhausted:
                for region in regions:
                    row = c.execute(
                        "select number from pool_numbers where company_id = ? and kind = 'dynamic'"
                        " and region = ? order by leased_until, number limit 1",
                        (company_id, region),
                    ).fetchone()
                    if row:
                        return self._lease(c, row[0], region, session_id, now_s, until_s, "shared")
            return Grant(outcome="exhausted")

    def _lease(
        self,
        c: sqlite3.Connection,
        number: str,
        region: str,
        session_id: str,
        now_s: str,
        until_s: str,
        outcome: str,
    ) -> Grant:
        c.execute(
            "update pool_numbers set leased_until = max(leased_until, ?), session_id = ?,"
            " last_shown_at = ? where number = ?",
            (until_s, session_id, now_s, number),
        )
        return Grant(outcome=outcome, number=number, region=region, leased_until=from_text(until_s))

    def renew(self, company_id: str, number: str, now: datetime, until: datetime) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "update pool_numbers set leased_until = max(leased_until, ?), last_shown_at = ?"
                " where number = ? and company_id = ? and kind = 'dynamic'",
                (to_text(until), to_text(now), number, company_id),
            )
            return cur.rowcount == 1

    def record_call(self, company_id: str, number: str, at: datetime) -> None:
        with self._tx() as c:
            c.execute(
                "update pool_numbers set last_call_at = max(last_call_at, ?)"
                " where number = ? and company_id = ? and kind = 'dynamic'",
                (to_text(at), number, company_id),
            )

    def state(self, number: str) -> NumberState | None:
        rows = self._query(f"select {COLUMNS} from pool_numbers where number = ?", (number,))
        return _state(rows[0]) if rows else None

    def list_states(self, company_id: str | None = None) -> list[NumberState]:
        if company_id is None:
            rows = self._query(f"select {COLUMNS} from pool_numbers order by number")
        else:
            rows = self._query(
                f"select {COLUMNS} from pool_numbers where company_id = ? order by number",
                (company_id,),
            )
        return [_state(r) for r in rows]

    def sweep(self, now: datetime, policy: PoolPolicy) -> list[Release]:
        now_s = to_text(now)
        idle_since = to_text(now - policy.binding)
        released: list[Release] = []
        with self._tx() as c:
            rows = c.execute(
                "select number, company_id, region from pool_numbers"
                " where kind = 'dynamic' and company_id is not null and leased_until <= ?"
                " and max(last_shown_at, last_call_at, coalesce(bound_at, '')) <= ?"
                " order by region, number",
                (now_s, idle_since),
            ).fetchall()
            for number, company_id, region in rows:
                free, total = c.execute(
                    "select sum(company_id is null and quarantine_until <= ?), count(*)"
                    " from pool_numbers where kind = 'dynamic' and region = ?",
                    (now_s, region),
                ).fetchone()
                days = policy.quarantine_days(free or 0, total)
                until = to_ms(now + timedelta(days=days))
                c.execute(
                    "update pool_numbers set company_id = null, former_company_id = ?,"
                    " bound_at = null, quarantine_until = ?, session_id = null where number = ?",
                    (company_id, to_text(until), number),
                )
                c.execute(
                    "update pool_bindings set released_at = ?, quarantine_until = ?"
                    " where number = ? and company_id = ? and released_at is null",
                    (now_s, to_text(until), number, company_id),
                )
                released.append(
                    Release(
                        number=number,
                        company_id=company_id,
                        released_at=to_ms(now),
                        quarantine_until=until,
                    )
                )
        return released

    def stats(self, company_id: str, now: datetime, since: datetime) -> PoolStats:
        now_s = to_text(now)
        rows = self._query(
            "select region, sum(company_id = ?), sum(company_id = ? and leased_until > ?),"
            " sum(company_id is null and quarantine_until <= ?)"
            " from pool_numbers where kind = 'dynamic' group by region order by region",
            (company_id, company_id, now_s, now_s),
        )
        (exhausted,) = self._query(
            "select count(*) from pool_exhaustion where company_id = ? and at >= ?",
            (company_id, to_text(since)),
        )[0]
        return PoolStats(
            company_id=company_id,
            regions=[
                RegionStats(region=r, bound=b or 0, leased_now=n or 0, free_inventory=f or 0)
                for r, b, n, f in rows
            ],
            exhaustion_events=exhausted,
        )

    def hit_rate_limit(self, key: str, now: datetime, window_seconds: int) -> int:
        window = int(now.timestamp()) // window_seconds
        with self._tx() as c:
            c.execute("delete from rate_windows where window < ?", (window - 1,))
            c.execute(
                "insert into rate_windows (key, window, hits) values (?, ?, 1)"
                " on conflict (key, window) do update set hits = hits + 1",
                (key, window),
            )
            (hits,) = c.execute(
                "select hits from rate_windows where key = ? and window = ?", (key, window)
            ).fetchone()
        return hits
