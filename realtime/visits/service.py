"""Visit rules: continue or start a session, read its marketing marks, lease a number."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from realtime.domain import Session, Site, new_id
from realtime.errors import NotFound
from realtime.phones import display
from realtime.pool.service import PoolService
from realtime.settings import Settings
from realtime.sites import SiteCache
from realtime.store import EventStore
from realtime.visits.schemas import VisitIn, VisitOut

MARK_PARAMS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "yclid",
)


def marketing_marks(page_url: str) -> dict[str, str | None]:
    """`utm_*`, `gclid` and `yclid` from a landing URL (first value wins, blanks are None)."""
    query = parse_qs(urlsplit(page_url).query, keep_blank_values=False)
    return {name: (query.get(name) or [None])[0] for name in MARK_PARAMS}


def _is_live(session: Session, now: datetime, timeout: timedelta) -> bool:
    return now - session.last_seen_at < timeout


def record_visit(
    store: EventStore,
    sites: SiteCache,
    pool: PoolService,
    settings: Settings,
    visit: VisitIn,
    client_ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> VisitOut:
    site: Site | None = sites.get(visit.site_key)
    if site is None:
        raise NotFound(f"unknown site_key {visit.site_key!r}")
    timeout = timedelta(minutes=settings.session_timeout_minutes)

    session = None
    if visit.session_id:
        session = store.get_session(site.company_id, visit.session_id)
    if session is None and visit.visitor_id:
        session = store.latest_session_of_visitor(site.company_id, visit.visitor_id)
    if session is not None and (session.site_id != site.id or not _is_live(session, now, timeout)):
        session = None

    if session is None:
        session = Session(
            id=new_id("s"),
            company_id=site.company_id,
            site_id=site.id,
            visitor_id=visit.visitor_id or f"v_{uuid.uuid4().hex[:20]}",
            started_at=now,
            last_seen_at=now,
            landing_url=str(visit.page_url),
            referrer=visit.referrer or None,
            client_ip=client_ip,
            region=pool.visitor_region(client_ip),
            **marketing_marks(str(visit.page_url)),
        )
    else:
        session.last_seen_at = now
    return _hold_number(pool, store, site, session, now, client_ip, user_agent)


def ping(
    store: EventStore,
    sites: SiteCache,
    pool: PoolService,
    settings: Settings,
    site_key: str,
    session_id: str,
    now: datetime,
) -> VisitOut:
    """Heartbeat: the page is still open, so the session and its number stay alive."""
    site = sites.get(site_key)
    if site is None:
        raise NotFound(f"unknown site_key {site_key!r}")
    session = store.get_session(site.company_id, session_id)
    timeout = timedelta(minutes=settings.session_timeout_minutes)
    if session is None or session.site_id != site.id or not _is_live(session, now, timeout):
        raise NotFound(f"no live session {session_id!r} on this site: post a visit to start one")
    session.last_seen_at = now
    return _hold_number(pool, store, site, session, now, session.client_ip, None)


def _hold_number(
    pool: PoolService,
    store: EventStore,
    site: Site,
    session: Session,
    now: datetime,
    client_ip: str | None,
    user_agent: str | None,
) -> VisitOut:
    assignment = pool.hold(site, session, now, client_ip, user_agent)
    store.save_visit(session, assignment.lease)
    return VisitOut(
        session_id=session.id,
        visitor_id=session.visitor_id,
        number=assignment.number,
        number_display=display(assignment.number) if assignment.number else None,
        lease_expires_at=assignment.leased_until,
    )
