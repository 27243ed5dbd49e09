"""The event store interface: what happened (sessions, lease history, calls).

Which number is free right now is pool state, kept apart in `realtime.pool`.
SQLite (embedded) and MongoDB implement this and share one contract test suite
(`tests/integration/test_event_store_contract.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

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
)


class StoreError(Exception):
    """A store rejected an operation (e.g. a duplicate key that must be unique)."""


class EventStore(Protocol):
    # companies and sites
    def create_company(self, company: Company) -> None: ...
    def get_company(self, company_id: str) -> Company | None: ...
    def list_companies(self) -> list[Company]: ...
    def find_company_by_mango_key(self, vpbx_api_key: str) -> Company | None: ...
    def create_site(self, site: Site) -> None: ...
    def get_site(self, company_id: str, site_id: str) -> Site | None: ...
    def create_api_key(self, key: ApiKey) -> None: ...
    def find_api_key(self, secret_sha256: str) -> ApiKey | None: ...
    def revoke_api_key(self, company_id: str, key_id: str, at: datetime) -> bool: ...
    def get_site_by_key(self, site_key: str) -> Site | None: ...

    # lease history: which session held which number, from when to when
    def save_lease(self, lease: Lease) -> None: ...
    def get_lease(self, company_id: str, lease_id: str) -> Lease | None: ...
    def find_lease_at(self, company_id: str, number: str, at: datetime) -> Lease | None:
        """The lease of `number` covering instant `at` (the latest one if shared)."""
        ...

    # sessions
    def save_session(self, session: Session) -> None: ...
    def save_visit(self, session: Session, lease: Lease | None) -> None:
        """Save a session and its (new or extended) lease in one atomic write."""
        ...

    def get_session(self, company_id: str, session_id: str) -> Session | None: ...
    def latest_session_of_visitor(self, company_id: str, visitor_id: str) -> Session | None: ...

    # calls
    def append_call_event(self, event: CallEvent) -> bool:
        """Store a raw event durably; False when the same event is already stored."""
        ...

    def list_call_events(self, company_id: str, entry_id: str) -> list[CallEvent]: ...
    def save_changes(self, changes: Changes) -> None:
        """Store calls, leads, callback tasks and webhook messages together: in one
        transaction on SQLite; on MongoDB record by record, webhook messages last."""
        ...

    def list_calls(self, company_id: str, query: CallQuery) -> list[Call]:
        """Calls by start time then entry id, oldest first, after `query.after`."""
        ...

    # leads and callbacks
    def find_recent_lead(
        self, company_id: str, phone: str | None, email: str | None, since: datetime
    ) -> Lead | None:
        """The lead with this phone (else email) whose last touch is at or after `since`."""
        ...

    def get_lead(self, company_id: str, lead_id: str) -> Lead | None: ...
    def list_leads(
        self,
        company_id: str,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Lead]: ...
    def get_callback(self, company_id: str, task_id: str) -> CallbackTask | None: ...
    def list_callbacks(
        self, company_id: str, status: str | None, limit: int
    ) -> list[CallbackTask]: ...

    def pending_callbacks_for_phone(self, company_id: str, phone: str) -> list[CallbackTask]:
        """Pending callback tasks for this phone, oldest first."""
        ...

    def claim_due_auto_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[CallbackTask]:
        """Pending tasks of any company whose automatic callback is scheduled and due by
        `now`, each claimed: its due time moves to `now + lease`, so however many
        service replicas poll, one of them calls the client back, once. A replica that
        dies mid-send leaves the claim to expire and another one retries."""
        ...

    def callbacks_between(
        self, company_id: str, start: datetime, end: datetime
    ) -> list[CallbackTask]:
        """Callback tasks created in [start, end), oldest first."""
        ...

    # smart redirect
    def get_redirect_config(self, company_id: str) -> RedirectConfig | None: ...
    def save_redirect_config(self, config: RedirectConfig) -> None: ...
    def save_crm_contacts(self, contacts: list[CrmContact]) -> None:
        """Upsert contacts by (company, crm, contact id); their phones replace the old ones."""
        ...

    def find_crm_contact(self, company_id: str, phone: str) -> CrmContact | None:
        """The most recently updated contact with this phone (E.164)."""
        ...

    def recent_employee_calls(
        self, company_id: str, client_number: str, since: datetime, before: datetime
    ) -> list[Call]:
        """Calls with this outside party and an employee extension, started in
        [since, before), newest first."""
        ...

    def save_redirect_decision(self, decision: RedirectDecision) -> None:
        """Store the decision and copy it onto its call (when the call is stored)."""
        ...

    def get_redirect_decision(self, company_id: str, entry_id: str) -> RedirectDecision | None: ...
    def find_redirect_decision_by_command(
        self, company_id: str, command_id: str
    ) -> RedirectDecision | None: ...

    # webhooks
    def save_subscription(self, subscription: WebhookSubscription) -> None: ...
    def list_subscriptions(self, company_id: str) -> list[WebhookSubscription]: ...
    def delete_subscription(self, company_id: str, subscription_id: str) -> bool: ...
    def claim_due_messages(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[OutboxMessage]:
        """Pending messages due by `now`, each hidden from other workers for `lease`."""
        ...

    def save_message(self, message: OutboxMessage) -> None: ...
    def get_message(self, company_id: str, message_id: str) -> OutboxMessage | None: ...
    def list_messages(
        self, company_id: str, status: str | None, limit: int
    ) -> list[OutboxMessage]: ...
    def save_call(self, call: Call) -> None: ...
    def get_call(self, company_id: str, entry_id: str) -> Call | None: ...
    def has_earlier_call(
        self,
        company_id: str,
        caller_number: str,
        before: datetime,
        exclude_entry_id: str,
        since: datetime | None = None,
    ) -> bool:
        """Did this caller call the company in [since, before)? (since None = ever)"""
        ...

    # batch extract: half-open [start, end) in UTC
    def sessions_between(
        self, company_id: str, start: datetime, end: datetime
    ) -> list[Session]: ...
    def leases_between(self, company_id: str, start: datetime, end: datetime) -> list[Lease]: ...
    def calls_between(self, company_id: str, start: datetime, end: datetime) -> list[Call]: ...

    def close(self) -> None: ...
