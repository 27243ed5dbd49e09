"""MongoDB event store (pymongo): the production choice for events and sessions.

Indexes are declared here, in code, and created on start-up. Writes use
`w="majority", j=True`, so an acknowledged write is journaled before we reply 2xx.
The dedupe of raw events relies on a unique index, not on a read-then-write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.write_concern import WriteConcern

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

INDEXES: dict[str, list[IndexModel]] = {
    "companies": [IndexModel([("mango_api_key", ASCENDING)], unique=True, sparse=True)],
    "sites": [IndexModel([("site_key", ASCENDING)], unique=True)],
    "api_keys": [IndexModel([("secret_sha256", ASCENDING)], unique=True)],
    "leases": [
        IndexModel([("company_id", ASCENDING), ("number", ASCENDING), ("leased_from", DESCENDING)]),
        IndexModel([("company_id", ASCENDING), ("leased_from", ASCENDING)]),
    ],
    "sessions": [
        IndexModel(
            [("company_id", ASCENDING), ("visitor_id", ASCENDING), ("last_seen_at", DESCENDING)]
        ),
        IndexModel([("company_id", ASCENDING), ("started_at", ASCENDING)]),
    ],
    "call_events": [
        IndexModel(
            [
                ("company_id", ASCENDING),
                ("entry_id", ASCENDING),
                ("call_id", ASCENDING),
                ("seq", ASCENDING),
                ("event_type", ASCENDING),
            ],
            unique=True,
        )
    ],
    "calls": [
        IndexModel([("company_id", ASCENDING), ("entry_id", ASCENDING)], unique=True),
        IndexModel(
            [("company_id", ASCENDING), ("caller_number", ASCENDING), ("started_at", ASCENDING)]
        ),
        IndexModel([("company_id", ASCENDING), ("started_at", ASCENDING)]),
        IndexModel(
            [("company_id", ASCENDING), ("client_number", ASCENDING), ("started_at", DESCENDING)]
        ),
    ],
    "crm_contacts": [
        IndexModel(
            [("company_id", ASCENDING), ("crm", ASCENDING), ("contact_id", ASCENDING)],
            unique=True,
        ),
        IndexModel([("company_id", ASCENDING), ("phones", ASCENDING), ("updated_at", DESCENDING)]),
    ],
    "redirect_decisions": [
        IndexModel([("company_id", ASCENDING), ("entry_id", ASCENDING)], unique=True),
        IndexModel([("company_id", ASCENDING), ("command_id", ASCENDING)]),
    ],
    "leads": [
        IndexModel(
            [("company_id", ASCENDING), ("phone", ASCENDING), ("last_touch_at", DESCENDING)]
        ),
        IndexModel(
            [("company_id", ASCENDING), ("email", ASCENDING), ("last_touch_at", DESCENDING)]
        ),
        IndexModel([("company_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)]),
    ],
    "callbacks": [
        IndexModel([("company_id", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("company_id", ASCENDING), ("phone", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("auto_callback_status", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("company_id", ASCENDING), ("created_at", ASCENDING)]),
    ],
    "webhook_subscriptions": [IndexModel([("company_id", ASCENDING)])],
    "outbox": [
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("company_id", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)]),
    ],
}


def _aware(doc: dict[str, Any]) -> dict[str, Any]:
    """pymongo hands back naive UTC datetimes unless tz_aware; make them aware."""
    out = {}
    for key, value in doc.items():
        if key == "_id":
            continue
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out[key] = value
    return out


class MongoEventStore:
    def __init__(self, client: Any, database: str = "callpath") -> None:
        self._client = client
        self._db = client.get_database(database, write_concern=WriteConcern(w="majority", j=True))
        for name, indexes in INDEXES.items():
            self._db[name].create_indexes(indexes)

    @classmethod
    def from_url(cls, url: str, database: str) -> MongoEventStore:
        from pymongo import MongoClient

        return cls(MongoClient(url, tz_aware=True), database)

    def close(self) -> None:
        self._client.close()

    # companies and sites -------------------------------------------------
    def create_company(self, company: Company) -> None:
        doc = company.model_dump()
        doc["_id"] = company.id
        if doc["mango_api_key"] is None:
            doc.pop("mango_api_key")
        try:
            self._db.companies.insert_one(doc)
        except DuplicateKeyError as exc:
            raise StoreError(f"company {company.id} or its Mango key already exists") from exc

    def get_company(self, company_id: str) -> Company | None:
        doc = self._db.companies.find_one({"_id": company_id})
        return Company.model_validate(_aware(doc)) if doc else None

    def list_companies(self) -> list[Company]:
        return [Company.model_validate(_aware(d)) for d in self._db.companies.find().sort("_id")]

    def find_company_by_mango_key(self, vpbx_api_key: str) -> Company | None:
        doc = self._db.companies.find_one({"mango_api_key": vpbx_api_key})
        return Company.model_validate(_aware(doc)) if doc else None

    def create_site(self, site: Site) -> None:
        try:
            self._db.sites.insert_one({"_id": site.id, **site.model_dump()})
        except DuplicateKeyError as exc:
            raise StoreError(f"site {site.id} or key {site.site_key} already exists") from exc

    def get_site(self, company_id: str, site_id: str) -> Site | None:
        doc = self._db.sites.find_one({"_id": site_id, "company_id": company_id})
        return Site.model_validate(_aware(doc)) if doc else None

    def create_api_key(self, key: ApiKey) -> None:
        self._db.api_keys.insert_one({"_id": key.id, **key.model_dump()})

    def find_api_key(self, secret_sha256: str) -> ApiKey | None:
        doc = self._db.api_keys.find_one({"secret_sha256": secret_sha256})
        return ApiKey.model_validate(_aware(doc)) if doc else None

    def revoke_api_key(self, company_id: str, key_id: str, at: datetime) -> bool:
        result = self._db.api_keys.update_one(
            {"_id": key_id, "company_id": company_id, "revoked_at": None},
            {"$set": {"revoked_at": to_ms(at)}},
        )
        return result.matched_count == 1 or (
            self._db.api_keys.find_one({"_id": key_id, "company_id": company_id}) is not None
        )

    def get_site_by_key(self, site_key: str) -> Site | None:
        doc = self._db.sites.find_one({"site_key": site_key})
        return Site.model_validate(_aware(doc)) if doc else None

    # lease history -------------------------------------------------------
    def save_lease(self, lease: Lease) -> None:
        self._db.leases.replace_one(
            {"_id": lease.id}, {"_id": lease.id, **lease.model_dump()}, upsert=True
        )

    def get_lease(self, company_id: str, lease_id: str) -> Lease | None:
        doc = self._db.leases.find_one({"_id": lease_id, "company_id": company_id})
        return Lease.model_validate(_aware(doc)) if doc else None

    def find_lease_at(self, company_id: str, number: str, at: datetime) -> Lease | None:
        at = to_ms(at)
        doc = self._db.leases.find_one(
            {
                "company_id": company_id,
                "number": number,
                "leased_from": {"$lte": at},
                "leased_until": {"$gte": at},
            },
            sort=[("leased_from", DESCENDING)],
        )
        return Lease.model_validate(_aware(doc)) if doc else None

    # sessions ------------------------------------------------------------
    def save_session(self, session: Session) -> None:
        self._db.sessions.replace_one(
            {"_id": session.id}, {"_id": session.id, **session.model_dump()}, upsert=True
        )

    def save_visit(self, session: Session, lease: Lease | None) -> None:
        # Two single-document writes, lease first: a session never points at a lease
        # that is not stored. (A multi-document transaction needs a replica set.)
        if lease is not None:
            self.save_lease(lease)
        self.save_session(session)

    def get_session(self, company_id: str, session_id: str) -> Session | None:
        doc = self._db.sessions.find_one({"_id": session_id, "company_id": company_id})
        return Session.model_validate(_aware(doc)) if doc else None

    def latest_session_of_visitor(self, company_id: str, visitor_id: str) -> Session | None:
        doc = self._db.sessions.find_one(
            {"company_id": company_id, "visitor_id": visitor_id},
            sort=[("last_seen_at", DESCENDING)],
        )
        return Session.model_validate(_aware(doc)) if doc else None

    # calls ---------------------------------------------------------------
    def append_call_event(self, event: CallEvent) -> bool:
        try:
            self._db.call_events.insert_one(event.model_dump())
        except DuplicateKeyError:
            return False
        return True

    def list_call_events(self, company_id: str, entry_id: str) -> list[CallEvent]:
        docs = self._db.call_events.find({"company_id": company_id, "entry_id": entry_id}).sort(
            [("call_id", ASCENDING), ("seq", ASCENDING), ("event_type", ASCENDING)]
        )
        return [CallEvent.model_validate(_aware(d)) for d in docs]

    def save_call(self, call: Call) -> None:
        self.save_changes(Changes(calls=[call]))

    def save_changes(self, changes: Changes) -> None:
        # No multi-document transaction without a replica set: write the records first
        # and the webhook messages last, so a message never describes unsaved data.
        for call in changes.calls:
            self._db.calls.replace_one(
                {"company_id": call.company_id, "entry_id": call.entry_id},
                call.model_dump(),
                upsert=True,
            )
        for lead in changes.leads:
            self._db.leads.replace_one(
                {"_id": lead.id}, {"_id": lead.id, **lead.model_dump()}, upsert=True
            )
        for task in changes.callbacks:
            self._db.callbacks.replace_one(
                {"_id": task.id}, {"_id": task.id, **task.model_dump()}, upsert=True
            )
        for message in changes.outbox:
            self.save_message(message)

    def list_calls(self, company_id: str, query: CallQuery) -> list[Call]:
        flt: dict[str, Any] = {"company_id": company_id}
        started: dict[str, Any] = {}
        if query.start:
            started["$gte"] = to_ms(query.start)
        if query.end:
            started["$lt"] = to_ms(query.end)
        if started:
            flt["started_at"] = started
        for name in (
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "is_missed",
            "is_target",
            "is_first_call",
        ):
            value = getattr(query, name)
            if value is not None:
                flt[name] = value
        if query.after:
            at, entry = to_ms(query.after[0]), query.after[1]
            flt = {
                "$and": [
                    flt,
                    {
                        "$or": [
                            {"started_at": {"$gt": at}},
                            {"started_at": at, "entry_id": {"$gt": entry}},
                        ]
                    },
                ]
            }
        docs = (
            self._db.calls.find(flt)
            .sort([("started_at", ASCENDING), ("entry_id", ASCENDING)])
            .limit(query.limit)
        )
        return [Call.model_validate(_aware(d)) for d in docs]

    def get_call(self, company_id: str, entry_id: str) -> Call | None:
        doc = self._db.calls.find_one({"company_id": company_id, "entry_id": entry_id})
        return Call.model_validate(_aware(doc)) if doc else None

    def has_earlier_call(
        self,
        company_id: str,
        caller_number: str,
        before: datetime,
        exclude_entry_id: str,
        since: datetime | None = None,
    ) -> bool:
        started: dict[str, Any] = {"$lt": to_ms(before)}
        if since is not None:
            started["$gte"] = to_ms(since)
        doc = self._db.calls.find_one(
            {
                "company_id": company_id,
                "caller_number": caller_number,
                "started_at": started,
                "entry_id": {"$ne": exclude_entry_id},
            }
        )
        return doc is not None

    def find_recent_lead(
        self, company_id: str, phone: str | None, email: str | None, since: datetime
    ) -> Lead | None:
        for field, value in (("phone", phone), ("email", email)):
            if not value:
                continue
            doc = self._db.leads.find_one(
                {"company_id": company_id, field: value, "last_touch_at": {"$gte": to_ms(since)}},
                sort=[("last_touch_at", DESCENDING)],
            )
            if doc:
                return Lead.model_validate(_aware(doc))
        return None

    def get_lead(self, company_id: str, lead_id: str) -> Lead | None:
        doc = self._db.leads.find_one({"_id": lead_id, "company_id": company_id})
        return Lead.model_validate(_aware(doc)) if doc else None

    def list_leads(
        self,
        company_id: str,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Lead]:
        flt: dict[str, Any] = {"company_id": company_id}
        created: dict[str, Any] = {}
        if start:
            created["$gte"] = to_ms(start)
        if end:
            created["$lt"] = to_ms(end)
        if created:
            flt["created_at"] = created
        if after:
            at = to_ms(after[0])
            flt = {
                "$and": [
                    flt,
                    {
                        "$or": [
                            {"created_at": {"$gt": at}},
                            {"created_at": at, "_id": {"$gt": after[1]}},
                        ]
                    },
                ]
            }
        docs = self._db.leads.find(flt).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [Lead.model_validate(_aware(d)) for d in docs.limit(limit)]

    def get_callback(self, company_id: str, task_id: str) -> CallbackTask | None:
        doc = self._db.callbacks.find_one({"_id": task_id, "company_id": company_id})
        return CallbackTask.model_validate(_aware(doc)) if doc else None

    def list_callbacks(self, company_id: str, status: str | None, limit: int) -> list[CallbackTask]:
        flt: dict[str, Any] = {"company_id": company_id}
        if status:
            flt["status"] = status
        docs = self._db.callbacks.find(flt).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [CallbackTask.model_validate(_aware(d)) for d in docs.limit(limit)]

    def pending_callbacks_for_phone(self, company_id: str, phone: str) -> list[CallbackTask]:
        docs = self._db.callbacks.find(
            {"company_id": company_id, "phone": phone, "status": "pending"}
        ).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [CallbackTask.model_validate(_aware(d)) for d in docs]

    def claim_due_auto_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[CallbackTask]:
        docs = self._claim_each(
            self._db.callbacks,
            {"status": "pending", "auto_callback_status": "scheduled"},
            "auto_callback_due_at",
            now,
            lease,
            limit,
            sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
        )
        return [CallbackTask.model_validate(doc) for doc in docs]

    @staticmethod
    def _claim_each(
        collection,
        query: dict,
        due_field: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        sort: list,
    ) -> list[dict]:
        """Up to `limit` documents matching `query` and due by `now` (`due_field`), each
        claimed by moving its due time to `now + lease`."""
        claimed = []
        for _ in range(limit):
            # find_one_and_update is atomic: two workers never claim the same document.
            doc = collection.find_one_and_update(
                {**query, due_field: {"$lte": to_ms(now)}},
                {"$set": {due_field: to_ms(now + lease)}},
                sort=sort,
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(_aware(doc))
        return claimed

    def callbacks_between(
        self, company_id: str, start: datetime, end: datetime
    ) -> list[CallbackTask]:
        docs = self._between("callbacks", "created_at", company_id, start, end)
        return [CallbackTask.model_validate(_aware(d)) for d in docs]

    # smart redirect ----------------------------------------------------------
    def get_redirect_config(self, company_id: str) -> RedirectConfig | None:
        doc = self._db.redirect_configs.find_one({"_id": company_id})
        return RedirectConfig.model_validate(_aware(doc)) if doc else None

    def save_redirect_config(self, config: RedirectConfig) -> None:
        self._db.redirect_configs.replace_one(
            {"_id": config.company_id},
            {"_id": config.company_id, **config.model_dump(mode="json")},
            upsert=True,
        )

    def save_crm_contacts(self, contacts: list[CrmContact]) -> None:
        for contact in contacts:
            doc = contact.model_dump()
            doc["phones"] = list(dict.fromkeys(contact.phones))
            self._db.crm_contacts.replace_one(
                {
                    "company_id": contact.company_id,
                    "crm": contact.crm,
                    "contact_id": contact.contact_id,
                },
                doc,
                upsert=True,
            )

    def find_crm_contact(self, company_id: str, phone: str) -> CrmContact | None:
        doc = self._db.crm_contacts.find_one(
            {"company_id": company_id, "phones": phone},
            sort=[("updated_at", DESCENDING), ("crm", ASCENDING), ("contact_id", ASCENDING)],
        )
        return CrmContact.model_validate(_aware(doc)) if doc else None

    def recent_employee_calls(
        self, company_id: str, client_number: str, since: datetime, before: datetime
    ) -> list[Call]:
        docs = (
            self._db.calls.find(
                {
                    "company_id": company_id,
                    "client_number": client_number,
                    "started_at": {"$gte": to_ms(since), "$lt": to_ms(before)},
                    "employee_extension": {"$ne": None},
                }
            )
            .sort([("started_at", DESCENDING), ("entry_id", DESCENDING)])
            .limit(50)
        )
        return [Call.model_validate(_aware(d)) for d in docs]

    def save_redirect_decision(self, decision: RedirectDecision) -> None:
        doc = decision.model_dump()
        self._db.redirect_decisions.replace_one(
            {"company_id": decision.company_id, "entry_id": decision.entry_id}, doc, upsert=True
        )
        self._db.calls.update_one(
            {"company_id": decision.company_id, "entry_id": decision.entry_id},
            {"$set": {"redirect": doc}},
        )

    def get_redirect_decision(self, company_id: str, entry_id: str) -> RedirectDecision | None:
        doc = self._db.redirect_decisions.find_one(
            {"company_id": company_id, "entry_id": entry_id}
        )
        return RedirectDecision.model_validate(_aware(doc)) if doc else None

    def find_redirect_decision_by_command(
        self, company_id: str, command_id: str
    ) -> RedirectDecision | None:
        doc = self._db.redirect_decisions.find_one(
            {"company_id": company_id, "command_id": command_id}
        )
        return RedirectDecision.model_validate(_aware(doc)) if doc else None

    # webhooks --------------------------------------------------------------
    def save_subscription(self, subscription: WebhookSubscription) -> None:
        self._db.webhook_subscriptions.replace_one(
            {"_id": subscription.id},
            {"_id": subscription.id, **subscription.model_dump()},
            upsert=True,
        )

    def list_subscriptions(self, company_id: str) -> list[WebhookSubscription]:
        docs = self._db.webhook_subscriptions.find({"company_id": company_id}).sort("_id")
        return [WebhookSubscription.model_validate(_aware(d)) for d in docs]

    def delete_subscription(self, company_id: str, subscription_id: str) -> bool:
        result = self._db.webhook_subscriptions.delete_one(
            {"_id": subscription_id, "company_id": company_id}
        )
        return result.deleted_count == 1

    def claim_due_messages(
        self, now: datetime, limit: int, lease: timedelta
    ) -> list[OutboxMessage]:
        docs = self._claim_each(
            self._db.outbox,
            {"status": "pending"},
            "next_attempt_at",
            now,
            lease,
            limit,
            sort=[("next_attempt_at", ASCENDING), ("_id", ASCENDING)],
        )
        return [OutboxMessage.model_validate(doc) for doc in docs]

    def save_message(self, message: OutboxMessage) -> None:
        self._db.outbox.replace_one(
            {"_id": message.id}, {"_id": message.id, **message.model_dump()}, upsert=True
        )

    def get_message(self, company_id: str, message_id: str) -> OutboxMessage | None:
        doc = self._db.outbox.find_one({"_id": message_id, "company_id": company_id})
        return OutboxMessage.model_validate(_aware(doc)) if doc else None

    def list_messages(self, company_id: str, status: str | None, limit: int) -> list[OutboxMessage]:
        flt: dict[str, Any] = {"company_id": company_id}
        if status:
            flt["status"] = status
        docs = self._db.outbox.find(flt).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [OutboxMessage.model_validate(_aware(d)) for d in docs.limit(limit)]

    # batch extract -------------------------------------------------------
    def _between(self, collection: str, field: str, company_id: str, start, end):
        return (
            self._db[collection]
            .find({"company_id": company_id, field: {"$gte": to_ms(start), "$lt": to_ms(end)}})
            .sort(field)
        )

    def sessions_between(self, company_id: str, start: datetime, end: datetime) -> list[Session]:
        docs = self._between("sessions", "started_at", company_id, start, end)
        return [Session.model_validate(_aware(d)) for d in docs]

    def leases_between(self, company_id: str, start: datetime, end: datetime) -> list[Lease]:
        docs = self._between("leases", "leased_from", company_id, start, end)
        return [Lease.model_validate(_aware(d)) for d in docs]

    def calls_between(self, company_id: str, start: datetime, end: datetime) -> list[Call]:
        docs = self._between("calls", "started_at", company_id, start, end)
        return [Call.model_validate(_aware(d)) for d in docs]
