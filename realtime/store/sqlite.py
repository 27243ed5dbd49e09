"""SQLite event store: the embedded default.

WAL mode with `synchronous=FULL`, so a committed write survives a crash or power
loss before we reply 2xx. One connection guarded by a lock: SQLite serialises
writers anyway, and a single connection keeps `BEGIN IMMEDIATE` simple.
Each record is kept whole as JSON (`doc`) next to the few columns we query by.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from realtime.domain import (
    ApiKey,
    Call,
    CallbackTask,
    CallEvent,
    CallQuery,
    Changes,
    Company,
    CrmContact,
    Lead,
    Lease,
    OutboxMessage,
    RedirectConfig,
    RedirectDecision,
    Session,
    Site,
    WebhookSubscription,
    to_ms,
)
from realtime.store.base import StoreError

SCHEMA = """
create table if not exists companies (
    id text primary key, mango_api_key text unique, doc text not null);
create table if not exists sites (
    id text primary key, site_key text not null unique, company_id text not null,
    doc text not null);
create table if not exists api_keys (
    id text primary key, company_id text not null, secret_sha256 text not null unique,
    doc text not null);
create table if not exists leases (
    id text primary key, company_id text not null, number text not null,
    leased_from text not null, leased_until text not null, doc text not null);
create index if not exists leases_by_number on leases (company_id, number, leased_from);
create index if not exists leases_by_time on leases (company_id, leased_from);
create table if not exists sessions (
    id text primary key, company_id text not null, visitor_id text not null,
    started_at text not null, last_seen_at text not null, doc text not null);
create index if not exists sessions_by_visitor on sessions (company_id, visitor_id, last_seen_at);
create index if not exists sessions_by_time on sessions (company_id, started_at);
create table if not exists call_events (
    company_id text not null, entry_id text not null, call_id text not null,
    seq integer not null, event_type text not null, doc text not null,
    primary key (company_id, entry_id, call_id, seq, event_type));
create table if not exists calls (
    company_id text not null, entry_id text not null, caller_number text,
    started_at text not null, doc text not null,
    primary key (company_id, entry_id));
create index if not exists calls_by_caller on calls (company_id, caller_number, started_at);
create index if not exists calls_by_time on calls (company_id, started_at, entry_id);
create table if not exists leads (
    id text primary key, company_id text not null, phone text, email text,
    created_at text not null, last_touch_at text not null, doc text not null);
create index if not exists leads_by_phone on leads (company_id, phone, last_touch_at);
create index if not exists leads_by_email on leads (company_id, email, last_touch_at);
create index if not exists leads_by_time on leads (company_id, created_at, id);
create table if not exists callbacks (
    id text primary key, company_id text not null, status text not null,
    created_at text not null, doc text not null);
create index if not exists callbacks_by_status on callbacks (company_id, status, created_at);
create index if not exists callbacks_by_time on callbacks (company_id, created_at);
create index if not exists callbacks_by_phone on callbacks
    (company_id, json_extract(doc, '$.phone'), status);
create index if not exists callbacks_auto_scheduled on callbacks
    (json_extract(doc, '$.auto_callback_status'), status, created_at);
create index if not exists calls_by_client on calls
    (company_id, json_extract(doc, '$.client_number'), started_at);
create table if not exists redirect_configs (company_id text primary key, doc text not null);
create table if not exists crm_contacts (
    company_id text not null, crm text not null, contact_id text not null,
    updated_at text not null, doc text not null, primary key (company_id, crm, contact_id));
create table if not exists crm_contact_phones (
    company_id text not null, phone text not null, crm text not null,
    contact_id text not null, updated_at text not null,
    primary key (company_id, phone, crm, contact_id));
create index if not exists crm_phones_by_time on crm_contact_phones
    (company_id, phone, updated_at);
create table if not exists redirect_decisions (
    company_id text not null, entry_id text not null, command_id text, doc text not null,
    primary key (company_id, entry_id));
create index if not exists redirect_by_command on redirect_decisions (company_id, command_id);
create table if not exists webhook_subscriptions (
    id text primary key, company_id text not null, doc text not null);
create table if not exists outbox (
    id text primary key, company_id text not null, status text not null,
    next_attempt_at text not null, created_at text not null, doc text not null);
create index if not exists outbox_due on outbox (status, next_attempt_at);
create index if not exists outbox_by_company on outbox (company_id, status, created_at);
"""


def to_text(value: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order."""
    return to_ms(value).strftime("%Y-%m-%dT%H:%M:%S.%f")


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None


class SQLiteDatabase:
    """One WAL-mode connection serialised by a lock.

    `synchronous=full` (default) fsyncs every commit: a 2xx survives power loss.
    `normal` fsyncs only at checkpoints: a commit still survives the process being
    killed, but the last commits may be lost if the machine itself loses power.
    """

    def __init__(self, path: Path | str, schema: str, synchronous: str = "full") -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError("synchronous must be full or normal")
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute(f"pragma synchronous={synchronous}")
        self._conn.execute("pragma busy_timeout=30000")
        self._conn.executescript(schema)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("rollback")
                raise
            self._conn.execute("commit")

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SQLiteEventStore(SQLiteDatabase):
    """Companies, sites, sessions, the lease history, call events and calls."""

    def __init__(self, path: Path | str, synchronous: str = "full") -> None:
        super().__init__(path, SCHEMA, synchronous)

    # companies and sites -------------------------------------------------
    def create_company(self, company: Company) -> None:
        try:
            with self._tx() as c:
                c.execute(
                    "insert into companies (id, mango_api_key, doc) values (?, ?, ?)",
                    (company.id, company.mango_api_key, company.model_dump_json()),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"company {company.id} or its Mango key already exists") from exc

    def get_company(self, company_id: str) -> Company | None:
        rows = self._query("select doc from companies where id = ?", (company_id,))
        return Company.model_validate_json(rows[0][0]) if rows else None

    def list_companies(self) -> list[Company]:
        rows = self._query("select doc from companies order by id")
        return [Company.model_validate_json(r[0]) for r in rows]

    def find_company_by_mango_key(self, vpbx_api_key: str) -> Company | None:
        rows = self._query("select doc from companies where mango_api_key = ?", (vpbx_api_key,))
        return Company.model_validate_json(rows[0][0]) if rows else None

    def create_site(self, site: Site) -> None:
        try:
            with self._tx() as c:
                c.execute(
                    "insert into sites (id, site_key, company_id, doc) values (?, ?, ?, ?)",
                    (site.id, site.site_key, site.company_id, site.model_dump_json()),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"site {site.id} or key {site.site_key} already exists") from exc

    def get_site(self, company_id: str, site_id: str) -> Site | None:
        rows = self._query(
            "select doc from sites where id = ? and company_id = ?", (site_id, company_id)
        )
        return Site.model_validate_json(rows[0][0]) if rows else None

    def create_api_key(self, key: ApiKey) -> None:
        with self._tx() as c:
            c.execute(
                "insert into api_keys (id, company_id, secret_sha256, doc) values (?, ?, ?, ?)",
                (key.id, key.company_id, key.secret_sha256, key.model_dump_json()),
            )

    def find_api_key(self, secret_sha256: str) -> ApiKey | None:
        rows = self._query("select doc from api_keys where secret_sha256 = ?", (secret_sha256,))
        return ApiKey.model_validate_json(rows[0][0]) if rows else None

    def revoke_api_key(self, company_id: str, key_id: str, at: datetime) -> bool:
        with self._tx() as c:
            row = c.execute(
                "select doc from api_keys where id = ? and company_id = ?", (key_id, company_id)
            ).fetchone()
            if row is None:
                return False
            key = ApiKey.model_validate_json(row[0])
            key.revoked_at = key.revoked_at or to_ms(at)
            c.execute("update api_keys set doc = ? where id = ?", (key.model_dump_json(), key_id))
            return True

    def get_site_by_key(self, site_key: str) -> Site | None:
        rows = self._query("select doc from sites where site_key = ?", (site_key,))
        return Site.model_validate_json(rows[0][0]) if rows else None

    # lease history -------------------------------------------------------
    def save_lease(self, lease: Lease) -> None:
        with self._tx() as c:
            self._write_lease(c, lease)

    def _write_lease(self, c: sqlite3.Connection, lease: Lease) -> None:
        c.execute(
            "insert or replace into leases"
            " (id, company_id, number, leased_from, leased_until, doc)"
            " values (?, ?, ?, ?, ?, ?)",
            (
                lease.id,
                lease.company_id,
                lease.number,
                to_text(lease.leased_from),
                to_text(lease.leased_until),
                lease.model_dump_json(),
            ),
        )

    def get_lease(self, company_id: str, lease_id: str) -> Lease | None:
        rows = self._query(
            "select doc from leases where id = ? and company_id = ?", (lease_id, company_id)
        )
        return Lease.model_validate_json(rows[0][0]) if rows else None

    def find_lease_at(self, company_id: str, number: str, at: datetime) -> Lease | None:
        at_s = to_text(at)
        rows = self._query(
            "select doc from leases where company_id = ? and number = ? and leased_from <= ?"
            " and leased_until >= ? order by leased_from desc limit 1",
            (company_id, number, at_s, at_s),
        )
        return Lease.model_validate_json(rows[0][0]) if rows else None

    # sessions ------------------------------------------------------------
    def save_session(self, session: Session) -> None:
        with self._tx() as c:
            self._write_session(c, session)

    def save_visit(self, session: Session, lease: Lease | None) -> None:
        with self._tx() as c:
            if lease is not None:
                self._write_lease(c, lease)
            self._write_session(c, session)

    def _write_session(self, c: sqlite3.Connection, session: Session) -> None:
        c.execute(
            "insert or replace into sessions"
            " (id, company_id, visitor_id, started_at, last_seen_at, doc)"
            " values (?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.company_id,
                session.visitor_id,
                to_text(session.started_at),
                to_text(session.last_seen_at),
                session.model_dump_json(),
            ),
        )

    def get_session(self, company_id: str, session_id: str) -> Session | None:
        rows = self._query(
            "select doc from sessions where id = ? and company_id = ?", (session_id, company_id)
        )
        return Session.model_validate_json(rows[0][0]) if rows else None

    def latest_session_of_visitor(self, company_id: str, visitor_id: str) -> Session | None:
        rows = self._query(
            "select doc from sessions where company_id = ? and visitor_id = ?"
            " order by last_seen_at desc limit 1",
            (company_id, visitor_id),
        )
        return Session.model_validate_json(rows[0][0]) if rows else None

    # calls ---------------------------------------------------------------
    def append_call_event(self, event: CallEvent) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "insert or ignore into call_events"
                " (company_id, entry_id, call_id, seq, event_type, doc) values (?, ?, ?, ?, ?, ?)",
                (*event.dedupe_key, event.model_dump_json()),
            )
            return cur.rowcount == 1

    def list_call_events(self, company_id: str, entry_id: str) -> list[CallEvent]:
        rows = self._query(
            "select doc from call_events where company_id = ? and entry_id = ?"
            " order by call_id, seq, event_type",
            (company_id, entry_id),
        )
        return [CallEvent.model_validate_json(r[0]) for r in rows]

    def save_call(self, call: Call) -> None:
        self.save_changes(Changes(calls=[call]))

    def save_changes(self, changes: Changes) -> None:
        with self._tx() as c:
            for call in changes.calls:
                c.execute(
                    "insert or replace into calls"
                    " (company_id, entry_id, caller_number, started_at, doc)"
                    " values (?, ?, ?, ?, ?)",
                    (
                        call.company_id,
                        call.entry_id,
                        call.caller_number,
                        to_text(call.started_at),
                        call.model_dump_json(),
                    ),
                )
            for lead in changes.leads:
                c.execute(
                    "insert or replace into leads"
                    " (id, company_id, phone, email, created_at, last_touch_at, doc)"
                    " values (?, ?, ?, ?, ?, ?, ?)",
                    (
                        lead.id,
                        lead.company_id,
                        lead.phone,
                        lead.email,
                        to_text(lead.created_at),
                        to_text(lead.last_touch_at),
                        lead.model_dump_json(),
                    ),
                )
            for task in changes.callbacks:
                c.execute(
                    "insert or replace into callbacks (id, company_id, status, created_at, doc)"
                    " values (?, ?, ?, ?, ?)",
                    (
                        task.id,
                        task.company_id,
                        task.status,
                        to_text(task.created_at),
                        task.model_dump_json(),
                    ),
                )
            for message in changes.outbox:
                self._write_message(c, message)

    def list_calls(self, company_id: str, query: CallQuery) -> list[Call]:
        where, params = ["company_id = ?"], [company_id]
        if query.start:
            where.append("started_at >= ?")
            params.append(to_text(query.start))
        if query.end:
            where.append("started_at < ?")
            params.append(to_text(query.end))
        if query.after:
            where.append("(started_at, entry_id) > (?, ?)")
            params += [to_text(query.after[0]), query.after[1]]
        for name in ("utm_source", "utm_medium", "utm_campaign"):
            value = getattr(query, name)
            if value is not None:
                where.append(f"json_extract(doc, '$.{name}') = ?")
                params.append(value)
        for name in ("is_missed", "is_target", "is_first_call"):
            value = getattr(query, name)
            if value is not None:
                where.append(f"json_extract(doc, '$.{name}') = ?")
                params.append(1 if value else 0)
        rows = self._query(
            f"select doc from calls where {' and '.join(where)}"
            " order by started_at, entry_id limit ?",
            (*params, query.limit),
        )
        return [Call.model_validate_json(r[0]) for r in rows]

    def get_call(self, company_id: str, entry_id: str) -> Call | None:
        rows = self._query(
            "select doc from calls where company_id = ? and entry_id = ?", (company_id, entry_id)
        )
        return Call.model_validate_json(rows[0][0]) if rows else None

    def has_earlier_call(
        self,
        company_id: str,
        caller_number: str,
        before: datetime,
        exclude_entry_id: str,
        since: datetime | None = None,
    ) -> bool:
        rows = self._query(
            "select 1 from calls where company_id = ? and caller_number = ? and started_at < ?"
            " and started_at >= ? and entry_id != ? limit 1",
            (
                company_id,
                caller_number,
                to_text(before),
                to_text(since) if since else "",
                exclude_entry_id,
            ),
        )
        return bool(rows)

    def find_recent_lead(
        self, company_id: str, phone: str | None, email: str | None, since: datetime
    ) -> Lead | None:
        for column, value in (("phone", phone), ("email", email)):
            if not value:
                continue
            rows = self._query(
                f"select doc from leads where company_id = ? and {column} = ?"
                " and last_touch_at >= ? order by last_touch_at desc limit 1",
                (company_id, value, to_text(since)),
            )
            if rows:
                return Lead.model_validate_json(rows[0][0])
        return None

    def get_lead(self, company_id: str, lead_id: str) -> Lead | None:
        rows = self._query(
            "select doc from leads where id = ? and company_id = ?", (lead_id, company_id)
        )
        return Lead.model_validate_json(rows[0][0]) if rows else None

    def list_leads(
        self,
        company_id: str,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Lead]:
        where, params = ["company_id = ?"], [company_id]
        if start:
            where.append("created_at >= ?")
            params.append(to_text(start))
        if end:
            where.append("created_at < ?")
            params.append(to_text(end))
        if after:
            where.append("(created_at, id) > (?, ?)")
            params += [to_text(after[0]), after[1]]
        rows = self._query(
            f"select doc from leads where {' and '.join(where)} order by created_at, id limit ?",
            (*params, limit),
        )
        return [Lead.model_validate_json(r[0]) for r in rows]

    def get_callback(self, company_id: str, task_id: str) -> CallbackTask | None:
        rows = self._query(
            "select doc from callbacks where id = ? and company_id = ?", (task_id, company_id)
        )
        return CallbackTask.model_validate_json(rows[0][0]) if rows else None

    def list_callbacks(self, company_id: str, status: str | None, limit: int) -> list[CallbackTask]:
        if status:
            rows = self._query(
                "select doc from callbacks where company_id = ? and status = ?"
                " order by created_at, id limit ?",
                (company_id, status, limit),
            )
        else:
            rows = self._query(
                "select doc from callbacks where company_id = ? order by created_at, id limit ?",
                (company_id, limit),
            )
        return [CallbackTask.model_validate_json(r[0]) for r in rows]

    def pending_callbacks_for_phone(self, company_id: str, phone: str) -> list[CallbackTask]:
        rows = self._query(
            "select doc from callbacks indexed by callbacks_by_phone"
            " where company_id = ? and status = 'pending'"
            " and json_extract(doc, '$.phone') = ? order by created_at, id",
            (company_id, phone),
        )
        return [CallbackTask.model_validate_json(r[0]) for r in rows]

    def claim_due_auto_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[CallbackTask]:
        claimed = []
        # begin immediate: two processes on one file claim one after the other
        with self._tx() as c:
            rows = c.execute(
                "select doc from callbacks where status = 'pending'"
                " and json_extract(doc, '$.auto_callback_status') = 'scheduled'"
                " order by created_at, id"
            ).fetchall()
            for (doc,) in rows:
                task = CallbackTask.model_validate_json(doc)
                if task.auto_callback_due_at is None or task.auto_callback_due_at > now:
                    continue
                task.auto_callback_due_at = to_ms(now + lease)
                c.execute(
                    "update callbacks set doc = ? where id = ?", (task.model_dump_json(), task.id)
                )
                claimed.append(task)
                if len(claimed) == limit:
                    break
        return claimed

    def callbacks_between(
        self, company_id: str, start: datetime, end: datetime
    ) -> list[CallbackTask]:
        docs = self._between("callbacks", "created_at", company_id, start, end)
        return [CallbackTask.model_validate_json(d) for d in docs]

    # smart redirect ----------------------------------------------------------
    def get_redirect_config(self, company_id: str) -> RedirectConfig | None:
        rows = self._query("select doc from redirect_configs where company_id = ?", (company_id,))
        return RedirectConfig.model_validate_json(rows[0][0]) if rows else None

    def save_redirect_config(self, config: RedirectConfig) -> None:
        with self._tx() as c:
            c.execute(
                "insert or replace into redirect_configs (company_id, doc) values (?, ?)",
                (config.company_id, config.model_dump_json()),
            )

    def save_crm_contacts(self, contacts: list[CrmContact]) -> None:
        with self._tx() as c:
            for contact in contacts:
                key = (contact.company_id, contact.crm, contact.contact_id)
                c.execute(
                    "insert or replace into crm_contacts"
                    " (company_id, crm, contact_id, updated_at, doc) values (?, ?, ?, ?, ?)",
                    (*key, to_text(contact.updated_at), contact.model_dump_json()),
                )
                c.execute(
                    "delete from crm_contact_phones"
                    " where company_id = ? and crm = ? and contact_id = ?",
                    key,
                )
                for phone in dict.fromkeys(contact.phones):
                    c.execute(
                        "insert into crm_contact_phones"
                        " (company_id, phone, crm, contact_id, updated_at) values (?, ?, ?, ?, ?)",
                        (contact.company_id, phone, contact.crm, contact.contact_id,
                         to_text(contact.updated_at)),
                    )  # fmt: skip

    def find_crm_contact(self, company_id: str, phone: str) -> CrmContact | None:
        rows = self._query(
            "select c.doc from crm_contact_phones p join crm_contacts c"
            " on c.company_id = p.company_id and c.crm = p.crm and c.contact_id = p.contact_id"
            " where p.company_id = ? and p.phone = ?"
            " order by p.updated_at desc, p.crm, p.contact_id limit 1",
            (company_id, phone),
        )
        return CrmContact.model_validate_json(rows[0][0]) if rows else None

    def recent_employee_calls(
        self, company_id: str, client_number: str, since: datetime, before: datetime
    ) -> list[Call]:
        rows = self._query(
            # Without statistics SQLite would pick the time index and read every call
            # of the window; the caller's own index reads only theirs.
            "select doc from calls indexed by calls_by_client where company_id = ?"
            " and json_extract(doc, '$.client_number') = ? and started_at >= ? and started_at < ?"
            " and json_extract(doc, '$.employee_extension') is not null"
            " order by started_at desc, entry_id desc limit 50",
            (company_id, client_number, to_text(since), to_text(before)),
        )
        return [Call.model_validate_json(r[0]) for r in rows]

    def save_redirect_decision(self, decision: RedirectDecision) -> None:
        doc = decision.model_dump_json()
        with self._tx() as c:
            c.execute(
                "insert or replace into redirect_decisions (company_id, entry_id, command_id, doc)"
                " values (?, ?, ?, ?)",
                (decision.company_id, decision.entry_id, decision.command_id, doc),
            )
            c.execute(
                "update calls set doc = json_set(doc, '$.redirect', json(?))"
                " where company_id = ? and entry_id = ?",
                (doc, decision.company_id, decision.entry_id),
            )

    def get_redirect_decision(self, company_id: str, entry_id: str) -> RedirectDecision | None:
        rows = self._query(
            "select doc from redirect_decisions where company_id = ? and entry_id = ?",
            (company_id, entry_id),
        )
        return RedirectDecision.model_validate_json(rows[0][0]) if rows else None

    def find_redirect_decision_by_command(
        self, company_id: str, command_id: str
    ) -> RedirectDecision | None:
        rows = self._query(
            "select doc from redirect_decisions where company_id = ? and command_id = ?",
            (company_id, command_id),
        )
        return RedirectDecision.model_validate_json(rows[0][0]) if rows else None

    # webhooks --------------------------------------------------------------
    def save_subscription(self, subscription: WebhookSubscription) -> None:
        with self._tx() as c:
            c.execute(
                "insert or replace into webhook_subscriptions (id, company_id, doc)"
                " values (?, ?, ?)",
                (subscription.id, subscription.company_id, subscription.model_dump_json()),
            )

    def list_subscriptions(self, company_id: str) -> list[WebhookSubscription]:
        rows = self._query(
            "select doc from webhook_subscriptions where company_id = ? order by id",
            (company_id,),
        )
        return [WebhookSubscription.model_validate_json(r[0]) for r in rows]

    def delete_subscription(self, company_id: str, subscription_id: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "delete from webhook_subscriptions where id = ? and company_id = ?",
                (subscription_id, company_id),
            )
            return cur.rowcount == 1

    def _write_message(self, c: sqlite3.Connection, message: OutboxMessage) -> None:
        c.execute(
            "insert or replace into outbox"
            " (id, company_id, status, next_attempt_at, created_at, doc)"
            " values (?, ?, ?, ?, ?, ?)",
            (
                message.id,
                message.company_id,
                message.status,
                to_text(message.next_attempt_at),
                to_text(message.created_at),
                message.model_dump_json(),
            ),
        )

    def claim_due_messages(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[OutboxMessage]:
        claimed = []
        with self._tx() as c:
            rows = c.execute(
                "select doc from outbox where status = 'pending' and next_attempt_at <= ?"
                " order by next_attempt_at, id limit ?",
                (to_text(now), limit),
            ).fetchall()
            for (doc,) in rows:
                message = OutboxMessage.model_validate_json(doc)
                message.next_attempt_at = to_ms(now + lease)
                self._write_message(c, message)
                claimed.append(message)
        return claimed

    def save_message(self, message: OutboxMessage) -> None:
        with self._tx() as c:
            self._write_message(c, message)

    def get_message(self, company_id: str, message_id: str) -> OutboxMessage | None:
        rows = self._query(
            "select doc from outbox where id = ? and company_id = ?", (message_id, company_id)
        )
        return OutboxMessage.model_validate_json(rows[0][0]) if rows else None

    def list_messages(self, company_id: str, status: str | None, limit: int) -> list[OutboxMessage]:
        if status:
            rows = self._query(
                "select doc from outbox where company_id = ? and status = ?"
                " order by created_at, id limit ?",
                (company_id, status, limit),
            )
        else:
            rows = self._query(
                "select doc from outbox where company_id = ? order by created_at, id limit ?",
                (company_id, limit),
            )
        return [OutboxMessage.model_validate_json(r[0]) for r in rows]

    # batch extract -------------------------------------------------------
    def _between(self, table: str, column: str, company_id: str, start, end) -> list[str]:
        rows = self._query(
            f"select doc from {table} where company_id = ? and {column} >= ? and {column} < ?"
            f" order by {column}",
            (company_id, to_text(start), to_text(end)),
        )
        return [r[0] for r in rows]

    def sessions_between(self, company_id: str, start: datetime, end: datetime) -> list[Session]:
        docs = self._between("sessions", "started_at", company_id, start, end)
        return [Session.model_validate_json(d) for d in docs]

    def leases_between(self, company_id: str, start: datetime, end: datetime) -> list[Lease]:
        docs = self._between("leases", "leased_from", company_id, start, end)
        return [Lease.model_validate_json(d) for d in docs]

    def calls_between(self, company_id: str, start: datetime, end: datetime) -> list[Call]:
        docs = self._between("calls", "started_at", company_id, start, end)
        return [Call.model_validate_json(d) for d in docs]
