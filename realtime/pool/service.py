"""Pool rules around the store: which regions to try, what bots and floods get,
and the lease history every batch attribution relies on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from realtime.domain import Lease, Session, Site, new_id, to_ms
from realtime.pool.base import PoolStore
from realtime.pool.geo import GeoResolver
from realtime.store import EventStore

# Crawlers and headless tools announce themselves; they must not drain the pool.
BOT_USER_AGENT = re.compile(
    r"bot|crawl|spider|slurp|bingpreview|facebookexternalhit|headlesschrome|lighthouse|"
    r"python-requests|curl/|wget/|httpclient|yandex(?:bot|metrika)|pingdom|uptime",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Assignment:
    number: str | None
    leased_until: datetime | None
    outcome: str  # free | grown | shared | kept | fallback:<why> | none
    lease: Lease | None = None


def is_bot(user_agent: str | None) -> bool:
    return bool(user_agent) and bool(BOT_USER_AGENT.search(user_agent))


def regions_for(site: Site, visitor_region: str | None) -> list[str]:
    """Home region wins; otherwise the visitor's region, then the site's default."""
    if site.home_region:
        return [site.home_region]
    ordered = [visitor_region, site.default_region]
    return [r for i, r in enumerate(ordered) if r and r not in ordered[:i]]


class PoolService:
    def __init__(
        self,
        pool: PoolStore,
        events: EventStore,
        geo: GeoResolver | None = None,
        new_sessions_per_ip_per_minute: int = 30,
    ) -> None:
        self.pool, self.events, self.geo = pool, events, geo
        self.ip_cap = new_sessions_per_ip_per_minute

    def visitor_region(self, ip: str | None) -> str | None:
        return self.geo.region(ip) if self.geo else None

    def hold(
        self,
        site: Site,
        session: Session,
        now: datetime,
        client_ip: str | None,
        user_agent: str | None,
    ) -> Assignment:
        """Keep the session's live number, or lease one. Sets `session.lease_id/number`;
        the caller saves the session and `Assignment.lease` together (`save_visit`)."""
        hold = timedelta(minutes=site.hold_minutes)
        until = to_ms(now + hold)
        kept = self._renew(session, now, until)
        if kept is not None:
            return kept
        if is_bot(user_agent):
            return self._fallback(site, session, "bot")
        if (
            client_ip
            and self.ip_cap
            and (
                self.pool.hit_rate_limit(f"ip:{site.company_id}:{client_ip}", now, 60) > self.ip_cap
            )
        ):
            return self._fallback(site, session, "rate_limited")
        grant = self.pool.acquire(
            site.company_id,
            session.id,
            regions_for(site, session.region),
            now,
            until,
            share_when_exhausted=site.exhaustion_policy == "shared",
        )
        if grant.number is None:
            return self._fallback(site, session, "exhausted")
        lease = Lease(
            id=new_id("ls"),
            company_id=site.company_id,
            number=grant.number,
            session_id=session.id,
            leased_from=to_ms(now),
            last_seen_at=to_ms(now),
            leased_until=until,
            is_shared=grant.is_shared,
        )
        session.lease_id, session.number = lease.id, lease.number
        return Assignment(lease.number, lease.leased_until, grant.outcome, lease)

    def _renew(self, session: Session, now: datetime, until: datetime) -> Assignment | None:
        if not session.lease_id:
            return None
        lease = self.events.get_lease(session.company_id, session.lease_id)
        # Live means strictly before the end: at `leased_until` the number is already free.
        if lease is None or lease.leased_until <= now:
            return None
        if not self.pool.renew(session.company_id, lease.number, now, until):
            return None
        lease.last_seen_at = to_ms(now)
        lease.leased_until = max(lease.leased_until, until)
        return Assignment(lease.number, lease.leased_until, "kept", lease)

    def _fallback(self, site: Site, session: Session, why: str) -> Assignment:
        session.lease_id, session.number = None, site.fallback_number
        return Assignment(site.fallback_number, None, f"fallback:{why}")
