"""Write the warehouse `raw` tables at a scale factor, vectorised, for `dbt build` benchmarks.

    python benchmarks/generate_raw.py --sf 1 --out var/bench/sf1.duckdb

SF1 is 30 days of one company with 100,000 sessions a day (SF4: 120 days, SF12: a
year). Every session leases a tracking number from a pool sized like the realtime
service would run it (about 25 leases per number a day, 20 minutes' hold after the
last page view), so the interval join of calls against the lease history has the
real amount of work: thousands of leases per number over the period.

What the raw data holds, per day (rates are `Config` fields):

- sessions and their leases: one lease per session, leases of one number never
  overlap, except `shared_lease_rate` of sessions that get a number already held
  (a shared lease, inside the holder's lease, as under the `shared` exhaustion
  policy);
- calls: `call_rate` of sessions call during their lease, at a time strictly inside
  it (`lease`, or `shared_lease` inside a shared one: the latest lease wins, as in
  realtime). On top, deliberately unmatched calls, as shares of those: `no_lease`
  (a pool number between two leases; some outbound), `stray` (a number the company
  gave up, in quarantine), static numbers (`static:offline/billboard`);
- web forms and callback requests from sessions (some from people who also call),
  their lead touches grouped into leads by the realtime rule (same phone, else
  email, within 30 days of the lead's last touch) and callback tasks;
- ad spend for Yandex.Direct and Google Ads per campaign and day: clicks follow the
  sessions tagged with that campaign (by id, some by name), plus campaigns nobody
  visited;
- CRM deals (amoCRM and Bitrix24) from leads, matchable by phone (in several
  spellings), session id or UTMs, and some that match nothing; their contacts;
- the pool: a daily tracking_numbers snapshot and pool_snapshots with the sizing
  advisor's recommendation.

Random draws use numpy's generator seeded with `--seed`, so the same arguments
write the same rows. Arrays are drawn per day (a loop over days, never over rows)
and strings are built by DuckDB in SQL. Raw tables this script does not know yet
are created empty and named on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from pipelines.raw_schema import RAW_SCHEMA, RAW_TABLES, create_raw_tables  # noqa: E402

COMPANY = "bench"
SITE = "site_bench"
# Europe/Moscow has had no DST since 2014: a local day is [d-1 21:00, d 21:00) UTC.
UTC_OFFSET = timedelta(hours=3)
DAY_MS = 86_400_000
MINUTE_MS = 60_000

STATIC_NUMBER = "+74957000001"
STATIC_CHANNEL = "offline/billboard"
FREE_INVENTORY = 500  # unbound numbers of the region, for pool_snapshots
STRAY_NUMBERS = 50  # numbers the company gave up, in quarantine for the whole period

# Reason codes of generated calls -> the realtime attribution_reason.
LEASE, SHARED_LEASE, NO_LEASE, STRAY, STATIC = range(5)
REASONS = ("lease", "shared_lease", "no_lease", "stray", f"static:{STATIC_CHANNEL}")

# Traffic sources of sessions: (utm_source, utm_medium, referrer kind, campaign platform,
# click id, share). Referrer kinds and platforms are resolved in SQL below.
PROFILES = (
    ("yandex", "cpc", None, "yandex_direct", "yclid", 0.28),
    ("google", "cpc", None, "google_ads", "gclid", 0.14),
    (None, None, None, None, "gclid", 0.01),  # auto-tagged click: only a gclid
    (None, None, "google", None, None, 0.10),
    (None, None, "yandex", None, None, 0.10),
    (None, None, None, None, None, 0.18),  # direct
    (None, None, "partner", None, None, 0.06),
    (None, None, "vk", None, None, 0.04),
    ("newsletter", "email", None, None, None, 0.03),
    ("vk", "cpc", None, None, None, 0.04),  # paid social with no spend source
    ("telegram", "messenger", None, None, None, 0.02),
)
# Ad campaigns: (platform, account_id, campaign_id, campaign_name, cost per click).
YANDEX_CAMPAIGNS = 20
GOOGLE_CAMPAIGNS = 10
UNVISITED_CAMPAIGNS = 2  # per platform: spend that no session claims


def _campaigns() -> list[tuple[str, str, str, str, float]]:
    rows = []
    for k in range(YANDEX_CAMPAIGNS + UNVISITED_CAMPAIGNS):
        rows.append(("yandex_direct", "bench-direct", str(70100001 + k), f"Direct {k + 1}",
                     18.0 + 3 * (k % 9)))  # fmt: skip
    for k in range(GOOGLE_CAMPAIGNS + UNVISITED_CAMPAIGNS):
        rows.append(("google_ads", "1234567890", str(21000000001 + k), f"Search {k + 1}",
                     25.0 + 4 * (k % 7)))  # fmt: skip
    return rows


CAMPAIGNS = _campaigns()


@dataclass(frozen=True)
class Config:
    """What to generate. Rates are per session unless they say otherwise."""

    sf: float = 1.0
    sessions_per_day: int = 100_000
    days: int | None = None  # default: 30 days per scale factor
    start_day: date = date(2025, 1, 1)
    seed: int = 42
    leases_per_number: int = 25  # per day; sets the pool size
    hold_minutes: int = 20
    shared_lease_rate: float = 0.005
    call_rate: float = 0.03  # sessions that call during their lease
    # unmatched calls, as shares of the lease-matched calls
    no_lease_share: float = 0.04
    outbound_share_of_no_lease: float = 0.25
    stray_share: float = 0.01
    static_share: float = 0.04
    repeat_caller_share: float = 0.12
    missed_share: float = 0.15
    form_rate: float = 0.008
    callback_rate: float = 0.004
    deal_rate: float = 0.30  # of leads
    unmatched_deal_share: float = 0.08  # of deals: phones nobody called from

    @property
    def n_days(self) -> int:
        return self.days if self.days is not None else max(1, round(30 * self.sf))

    @property
    def pool_size(self) -> int:
        return max(1, math.ceil(self.sessions_per_day / self.leases_per_number))

    @property
    def shared_per_day(self) -> int:
        return round(self.sessions_per_day * self.shared_lease_rate)

    @property
    def lease_calls_per_day(self) -> int:
        return round(self.sessions_per_day * self.call_rate)

    def unmatched_per_day(self) -> dict[int, int]:
        m = self.lease_calls_per_day
        return {
            NO_LEASE: round(m * self.no_lease_share),
            STRAY: round(m * self.stray_share),
            STATIC: round(m * self.static_share),
        }


def _day_start_ms(config: Config, day_index: int) -> int:
    """Naive-UTC epoch milliseconds of the local midnight starting day `day_index`."""
    local = datetime.combine(config.start_day + timedelta(days=day_index), datetime.min.time())
    return int((local - UTC_OFFSET - datetime(1970, 1, 1)).total_seconds() * 1000)


def _ts(ms: np.ndarray) -> np.ndarray:
    return np.asarray(ms, dtype="int64").astype("datetime64[ms]")


@dataclass
class _Offsets:
    """Running global indices, so ids stay unique across days."""

    session: int = 0
    call: int = 0
    form: int = 0


def _leases_of_day(rng: np.random.Generator, config: Config, day_start: int):
    """Non-overlapping leases per pool number, tiled over the day, plus shared ones.

    Each number gets `leases_per_number` slots: lease lengths (page views plus the
    hold) and the free gaps between them are drawn, the gaps scaled so that the
    slots fill the day. Returns the chosen leases sorted by start, and the gaps
    (where a call finds no lease)."""
    n, per = config.pool_size, config.leases_per_number
    hold = config.hold_minutes * MINUTE_MS
    browse = np.minimum(rng.exponential(6 * MINUTE_MS, (n, per)), 30 * MINUTE_MS)
    browse = browse.astype("int64")
    length = browse + hold
    free = DAY_MS - length.sum(axis=1)  # > 0: at most 50 min x 25 slots < a day
    weights = rng.exponential(1.0, (n, per + 1))
    gaps = (weights / weights.sum(axis=1, keepdims=True) * free[:, None]).astype("int64")
    before = np.concatenate([np.zeros((n, 1), "int64"), length[:, :-1]], axis=1)
    start = day_start + np.cumsum(gaps[:, :per] + before, axis=1)
    end = start + length
    gap_start = np.concatenate([np.full((n, 1), day_start), end], axis=1)
    gap_end = np.concatenate([start, np.full((n, 1), day_start + DAY_MS)], axis=1)

    own = config.sessions_per_day - config.shared_per_day
    slots = np.sort(rng.choice(n * per, size=own, replace=False))
    number = slots // per
    lease_from = start.ravel()[slots]
    lease_browse = browse.ravel()[slots]
    lease_until = end.ravel()[slots]

    # Shared leases: a later session gets a number someone holds; it sits inside the
    # holder's second half, so calls in the holder's first 45 % stay the holder's.
    hosts = rng.choice(own, size=config.shared_per_day, replace=False)
    host_length = lease_until[hosts] - lease_from[hosts]
    shared_from = lease_from[hosts] + (host_length * rng.uniform(0.5, 0.8, hosts.size)).astype(
        "int64"
    )
    shared_until = lease_until[hosts]
    shared_browse = np.maximum(shared_until - shared_from - hold, 0)

    is_host = np.zeros(own, bool)
    is_host[hosts] = True
    leases = pd.DataFrame(
        {
            "number": np.concatenate([number, number[hosts]]),
            "leased_from": np.concatenate([lease_from, shared_from]),
            "browse": np.concatenate([lease_browse, shared_browse]),
            "leased_until": np.concatenate([lease_until, shared_until]),
            "is_shared": np.concatenate([np.zeros(own, bool), np.ones(hosts.size, bool)]),
            "is_host": np.concatenate([is_host, np.zeros(hosts.size, bool)]),
        }
    )
    leases = leases.sort_values(["leased_from", "number"], kind="stable", ignore_index=True)
    gap_number = np.repeat(np.arange(n), per + 1)
    gaps_frame = pd.DataFrame(
        {"number": gap_number, "start": gap_start.ravel(), "end": gap_end.ravel()}
    )
    return leases, gaps_frame


def _sessions_frame(rng, config: Config, leases: pd.DataFrame, first: int, day: int):
    s = len(leases)
    g = np.arange(first, first + s, dtype="int64")
    shares = np.array([p[-1] for p in PROFILES])
    profile = rng.choice(len(PROFILES), size=s, p=shares / shares.sum())
    campaign = np.full(s, -1, "int64")
    for index, (_, _, _, platform, _, _) in enumerate(PROFILES):
        if platform is None:
            continue
        ids = [k for k, c in enumerate(CAMPAIGNS) if c[0] == platform]
        visited = ids[: YANDEX_CAMPAIGNS if platform == "yandex_direct" else GOOGLE_CAMPAIGNS]
        weights = 1.0 / np.arange(1, len(visited) + 1)  # a few big campaigns, a long tail
        chosen = profile == index
        campaign[chosen] = np.asarray(visited)[
            rng.choice(len(visited), size=int(chosen.sum()), p=weights / weights.sum())
        ]
    # Returning visitors: a quarter of sessions belong to a visitor seen up to a week
    # earlier (their path has several touches); the others are new visitors.
    # (Only where that earlier session exists: clamping to the first session instead
    # would give one visitor a large share of the first week.)
    back = rng.integers(1, 7 * config.sessions_per_day, s)
    returning = (rng.random(s) < 0.25) & (back <= g)
    visitor = np.where(returning, g - back, g)
    return pd.DataFrame(
        {
            "g": g,
            "day": day,
            "visitor": visitor,
            "started_at": _ts(leases["leased_from"].to_numpy()),
            "last_seen_at": _ts(leases["leased_from"].to_numpy() + leases["browse"].to_numpy()),
            "profile": profile,
            "campaign": campaign,
            "by_name": rng.random(s) < 0.05,  # tagged with the campaign name, not its id
            "region": rng.choice(3, size=s, p=[0.7, 0.2, 0.1]),
        }
    )


def _calls_frame(rng, config: Config, leases, gaps, sessions, first: int, day_start: int):
    """Calls of the day: inside leases (the realtime verdict), then the unmatched ones."""
    m = config.lease_calls_per_day
    pick = rng.choice(len(leases), size=m, replace=False)
    chosen = leases.iloc[pick]
    length = (chosen["leased_until"] - chosen["leased_from"]).to_numpy()
    # Strictly inside the lease (never on an end, where realtime's inclusive bounds
    # meet the next lease); a holder's call stays before its shared guest arrives.
    upper = np.where(chosen["is_host"].to_numpy(), 0.45, 0.98)
    position = rng.uniform(0.02, 1.0, m) * upper
    lease_at = chosen["leased_from"].to_numpy() + (length * position).astype("int64")
    parts = [
        pd.DataFrame(
            {
                "number": chosen["number"].to_numpy(),
                "kind": 0,
                "started_at": lease_at,
                "session": sessions["g"].to_numpy()[pick],
                "reason": np.where(chosen["is_shared"].to_numpy(), SHARED_LEASE, LEASE),
                "outbound": False,
            }
        )
    ]
    counts = config.unmatched_per_day()
    # No lease: a pool number in a gap of at least two minutes, away from its ends.
    wide = gaps[(gaps["end"] - gaps["start"]) >= 2 * MINUTE_MS]
    gap = wide.iloc[rng.choice(len(wide), size=counts[NO_LEASE], replace=True)]
    gap_length = (gap["end"] - gap["start"]).to_numpy()
    parts.append(
        pd.DataFrame(
            {
                "number": gap["number"].to_numpy(),
                "kind": 0,
                "started_at": gap["start"].to_numpy()
                + (gap_length * rng.uniform(0.1, 0.9, len(gap))).astype("int64"),
                "session": -1,
                "reason": NO_LEASE,
                "outbound": rng.random(len(gap)) < config.outbound_share_of_no_lease,
            }
        )
    )
    for reason, kind in ((STRAY, 2), (STATIC, 1)):
        k = counts[reason]
        parts.append(
            pd.DataFrame(
                {
                    "number": rng.integers(0, STRAY_NUMBERS, k) if kind == 2 else 0,
                    "kind": kind,
                    # daytime, 08:00-22:00 local
                    "started_at": day_start
                    + rng.integers(8 * 60 * MINUTE_MS, 22 * 60 * MINUTE_MS, k),
                    "session": -1,
                    "reason": reason,
                    "outbound": False,
                }
            )
        )
    calls = pd.concat(parts, ignore_index=True)
    calls = calls.sort_values("started_at", kind="stable", ignore_index=True)
    c = len(calls)
    calls.insert(0, "idx", np.arange(first, first + c, dtype="int64"))
    # A caller is new, or someone who called within the last ~10 days of calls.
    back = rng.integers(1, 10 * max(c, 1), c)
    repeat = (rng.random(c) < config.repeat_caller_share) & (back <= calls["idx"].to_numpy())
    calls["caller"] = np.where(repeat, calls["idx"] - back, calls["idx"])
    missed = rng.random(c) < config.missed_share
    wait = np.where(missed, rng.integers(10, 60, c), rng.integers(3, 30, c))
    talk = np.where(missed, 0, np.minimum(rng.lognormal(4.8, 1.0, c), 3600).astype("int64"))
    start = calls["started_at"].to_numpy()
    calls["answered_at"] = np.where(missed, np.datetime64("NaT"), _ts(start + wait * 1000))
    calls["ended_at"] = _ts(start + (wait + talk) * 1000)
    calls["started_at"] = _ts(start)
    calls["wait"] = wait
    calls["talk"] = talk
    calls["missed"] = missed
    calls["extension"] = rng.integers(101, 111, c)
    return calls


def _forms_frame(rng, config: Config, sessions, calls, first: int):
    """Web forms and callback requests, filled in during a session."""
    s = len(sessions)
    kind = np.full(s, -1)
    u = rng.random(s)
    kind[u < config.form_rate] = 0
    kind[(u >= config.form_rate) & (u < config.form_rate + config.callback_rate)] = 1
    chosen = np.flatnonzero(kind >= 0)
    k = chosen.size
    started = sessions["started_at"].to_numpy()[chosen].astype("int64")
    last = sessions["last_seen_at"].to_numpy()[chosen].astype("int64")
    at = started + ((last - started) * rng.uniform(0.1, 0.9, k)).astype("int64") + 1000
    # Who: a quarter are people who also call (one lead across kinds); forms without
    # a phone leave an email (callbacks always have a phone).
    who = rng.random(k)
    callers = calls["caller"].to_numpy()
    known = callers[rng.integers(0, max(len(callers), 1), k)] if len(callers) else 0
    idx = np.arange(first, first + k, dtype="int64")
    phone = np.where(who < 0.25, known, 10_000_000_000 + idx)  # separate range from callers
    email_only = (kind[chosen] == 0) & (who > 0.85)
    return pd.DataFrame(
        {
            "idx": idx,
            "kind": kind[chosen],
            "session": sessions["g"].to_numpy()[chosen],
            "at": _ts(at),
            "phone": np.where(email_only, -1, phone),
            "email_only": email_only,
            "page": rng.integers(0, 12, k),
            "done_after": rng.integers(2 * MINUTE_MS, 240 * MINUTE_MS, k),
            "done": rng.random(k) < 0.85,
        }
    )


def _spend_frame(rng, sessions, day: int):
    """Clicks per campaign follow the day's sessions tagged with it (by id or name)."""
    counts = np.bincount(
        sessions["campaign"].to_numpy()[sessions["campaign"].to_numpy() >= 0],
        minlength=len(CAMPAIGNS),
    )
    unvisited = rng.integers(0, 40, len(CAMPAIGNS))
    visited = counts > 0
    clicks = np.where(visited, counts + rng.integers(0, 1 + counts // 10 + 1), unvisited)
    cpc = np.array([c[4] for c in CAMPAIGNS]) * rng.uniform(0.9, 1.1, len(CAMPAIGNS))
    # Campaigns that had no visit on a day may still have spent: every second one does.
    keep = visited | (np.arange(len(CAMPAIGNS)) % 2 == 0)
    return pd.DataFrame(
        {
            "campaign": np.arange(len(CAMPAIGNS))[keep],
            "day": day,
            "clicks": clicks[keep],
            "impressions": (clicks * rng.uniform(15, 60, len(CAMPAIGNS))).astype("int64")[keep],
            "spend": np.round(clicks * cpc, 2)[keep],
        }
    )


# --- SQL that turns the numeric frames into raw rows --------------------------------

# Callers are +790xxxxxxxx, people who only fill in forms +799xxxxxxxx, deal contacts
# who never got in touch +7977xxxxxxx: three ranges that never collide.
_PHONE = "'+790' || lpad(cast({0} as varchar), 8, '0')"
_PHONE_FORMS = (
    "case when {0} >= 10000000000 then '+799' || lpad(cast({0} - 10000000000 as varchar), 8, '0')"
    " else '+790' || lpad(cast({0} as varchar), 8, '0') end"
)


def _sql_session_id(expr: str) -> str:
    return f"'s' || lpad(cast({expr} as varchar), 10, '0')"


def _lookup_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        "create temp table profiles (profile integer, utm_source varchar, utm_medium varchar,"
        " referrer_kind varchar, click_id varchar)"
    )
    conn.executemany(
        "insert into profiles values (?, ?, ?, ?, ?)",
        [(i, p[0], p[1], p[2], p[4]) for i, p in enumerate(PROFILES)],
    )
    conn.execute(
        "create temp table campaigns (campaign integer, platform varchar, account_id varchar,"
        " campaign_id varchar, campaign_name varchar)"
    )
    conn.executemany(
        "insert into campaigns values (?, ?, ?, ?, ?)",
        [(i, c[0], c[1], c[2], c[3]) for i, c in enumerate(CAMPAIGNS)],
    )


def _day_sql(config: Config, day: int) -> str:
    return f"date '{(config.start_day + timedelta(days=day)).isoformat()}'"


def _insert_day(conn, config: Config, day: int, frames: dict[str, pd.DataFrame]) -> None:
    d = _day_sql(config, day)
    raw = RAW_SCHEMA
    conn.register("day_sessions", frames["sessions"])
    conn.register("day_leases", frames["leases"])
    conn.register("day_calls", frames["calls"])
    conn.register("day_forms", frames["forms"])
    conn.register("day_spend", frames["spend"])
    try:
        conn.execute(f"""
            insert into {raw}.sessions by name
            select
                '{COMPANY}' as company_id, '{SITE}' as site_id,
                {_sql_session_id("s.g")} as session_id,
                'v' || lpad(cast(s.visitor as varchar), 10, '0') as visitor_id,
                s.started_at, s.last_seen_at,
                'https://shop.example/' || case s.g % 4 when 0 then '' when 1 then 'catalog'
                    when 2 then 'repair' else 'contacts' end as landing_url,
                case p.referrer_kind
                    when 'google' then 'https://www.google.com/search?q=repair+' || s.g % 97
                    when 'yandex' then 'https://yandex.ru/search/?text=repair+' || s.g % 89
                    when 'partner' then 'https://partner' || s.g % 40 || '.example/blog'
                    when 'vk' then 'https://vk.com/feed'
                end as referrer,
                p.utm_source, p.utm_medium,
                case when s.campaign >= 0 then
                    case when s.by_name then c.campaign_name else c.campaign_id end
                    when p.utm_source = 'vk' then 'vk_retarget'
                    when p.utm_source = 'newsletter' then 'weekly'
                end as utm_campaign,
                case when s.campaign >= 0 then 'ad' || s.g % 7 end as utm_content,
                case when s.campaign >= 0 then 'repair ' || s.g % 13 end as utm_term,
                case when p.click_id = 'gclid' then 'gc' || s.g end as gclid,
                case when p.click_id = 'yclid' then 'yc' || s.g end as yclid,
                '10.' || (s.g // 65536) % 256 || '.' || (s.g // 256) % 256 || '.' || s.g % 256
                    as client_ip,
                case s.region when 0 then 'RU-MOW' when 1 then 'RU-SPE' else 'RU-NVS' end
                    as region,
                {d} as _day
            from day_sessions s
            join profiles p on p.profile = s.profile
            left join campaigns c on c.campaign = s.campaign
        """)
        conn.execute(f"""
            insert into {raw}.number_leases by name
            select
                '{COMPANY}' as company_id,
                'l' || lpad(cast(s.g as varchar), 10, '0') as lease_id,
                '+74952' || lpad(cast(l.number as varchar), 6, '0') as number,
                {_sql_session_id("s.g")} as session_id,
                s.started_at as leased_from, s.last_seen_at,
                epoch_ms(l.leased_until) as leased_until,
                l.is_shared, {d} as _day
            from day_leases l positional join day_sessions s
        """)
        conn.execute(f"""
            insert into {raw}.calls by name
            select
                '{COMPANY}' as company_id,
                'bench-' || lpad(cast(c.idx as varchar), 9, '0') as entry_id,
                case c.kind
                    when 0 then '+74952' || lpad(cast(c.number as varchar), 6, '0')
                    when 1 then '{STATIC_NUMBER}'
                    else '+74953' || lpad(cast(c.number as varchar), 6, '0')
                end as tracking_number,
                {_PHONE.format("c.caller")} as caller_number,
                case when c.outbound then 'outbound' else 'inbound' end as direction,
                c.started_at, c.answered_at, c.ended_at,
                c.wait as wait_seconds, c.talk as talk_seconds,
                cast(c.extension as varchar) as employee_extension,
                case when c.missed then 'no_answer' else 'normal' end as disconnect_reason,
                case when c.session >= 0 then {_sql_session_id("c.session")} end as session_id,
                case c.reason {" ".join(f"when {i} then '{r}'" for i, r in enumerate(REASONS))}
                    end as attribution_reason,
                false as is_first_call,
                c.talk >= 30 as is_target,
                c.missed as is_missed,
                {d} as _day
            from day_calls c
        """)
        conn.execute(f"""
            insert into bench_forms by name
            select
                'f' || lpad(cast(f.idx as varchar), 9, '0') as ref,
                case f.kind when 0 then 'form' else 'callback' end as touch_type,
                f.at as touched_at,
                {_sql_session_id("f.session")} as session_id,
                case when f.phone >= 0 then {_PHONE_FORMS.format("f.phone")} end as phone,
                case when f.email_only then 'u' || f.idx || '@mail.example' end as email,
                'https://shop.example/' || case f.page % 3 when 0 then 'contacts'
                    when 1 then 'repair' else 'catalog' end as page,
                f.at + to_milliseconds(f.done_after) as done_at,
                f.done,
                {d} as _day
            from day_forms f
        """)
        for platform in ("yandex_direct", "google_ads"):
            conn.execute(f"""
                insert into {raw}.ad_spend_{platform} by name
                select
                    {d} as date_day, c.platform, c.account_id, c.campaign_id,
                    c.campaign_name, s.clicks, s.impressions,
                    cast(s.spend as decimal(18,2)) as spend, 'RUB' as currency,
                    'https://shop.example/?utm_source={{source}}&utm_campaign={{campaign_id}}'
                        as url_template,
                    c.account_id as _account,
                    timestamp '{(config.start_day + timedelta(days=day + 1)).isoformat()}'
                        + interval 3 hour as _loaded_at
                from day_spend s join campaigns c on c.campaign = s.campaign
                where c.platform = '{platform}'
            """)
    finally:
        for name in ("day_sessions", "day_leases", "day_calls", "day_forms", "day_spend"):
            conn.unregister(name)


def _finish(conn, config: Config, rng: np.random.Generator) -> None:
    """Everything that spans days: first calls, leads, callback tasks, deals, the pool.

    Tables missing from pipelines/raw_schema.py (an older checkout) are skipped."""
    raw = RAW_SCHEMA
    local_day = "cast({0} + interval 3 hour as date)"
    # First call: the caller's first call to the company in the data.
    conn.execute(f"""
        update {raw}.calls c set is_first_call = true
        from (
            select entry_id from (
                select entry_id, row_number() over (
                    partition by caller_number order by started_at, entry_id) as n
                from {raw}.calls where direction = 'inbound'
            ) where n = 1
        ) f
        where c.entry_id = f.entry_id
    """)
    # Every touch (inbound calls with a caller, forms, callback requests), grouped into
    # leads by the realtime rule: same phone (else email), within lead_dedupe_days (30)
    # of the lead's previous touch. The lead id names its first touch.
    conn.execute(f"""
        create temp table bench_touches as
        with touches as (
            select 'call' as touch_type, entry_id as touch_ref, started_at as touched_at,
                   session_id, caller_number as phone, null as email, null as page
            from {raw}.calls
            where direction = 'inbound' and caller_number is not null
            union all
            select touch_type, ref, touched_at, session_id, phone, email, page
            from bench_forms
        ),
        keyed as (
            select *, coalesce(phone, email) as identity_key,
                   lag(touched_at) over w as previous_at
            from touches
            window w as (partition by coalesce(phone, email)
                         order by touched_at, touch_type, touch_ref)
        ),
        numbered as (
            select *, sum(case when previous_at is null
                               or touched_at > previous_at + interval 30 day
                               then 1 else 0 end) over (
                partition by identity_key order by touched_at, touch_type, touch_ref
                rows between unbounded preceding and current row) as lead_number
            from keyed
        )
        select *, 'ld_' || first_value(touch_ref) over (
                partition by identity_key, lead_number
                order by touched_at, touch_type, touch_ref) as lead_id
        from numbered
    """)
    if "lead_touches" in RAW_TABLES:
        conn.execute(f"""
        insert into {raw}.lead_touches by name
        select '{COMPANY}' as company_id, lead_id, touch_type, touch_ref, touched_at,
               session_id,
               max(phone) over (partition by lead_id) as phone,
               max(email) over (partition by lead_id) as email,
               page, {local_day.format("touched_at")} as _day
        from bench_touches
    """)
    if "callback_tasks" in RAW_TABLES:
        conn.execute(f"""
        insert into {raw}.callback_tasks by name
        select '{COMPANY}' as company_id, 'cb_{COMPANY}_' || f.ref as task_id, f.phone,
               'callback_request' as reason, t.lead_id, f.ref,
               case when f.done then 'done' else 'pending' end as status,
               f.touched_at as created_at, case when f.done then f.done_at end as done_at,
               f._day
        from bench_forms f join bench_touches t on t.touch_ref = f.ref
        where f.touch_type = 'callback'
        union all
        select '{COMPANY}', 'mc_{COMPANY}_' || c.entry_id, c.caller_number, 'missed_call',
               t.lead_id, c.entry_id, 'done', c.started_at,
               c.started_at + interval 25 minute, c._day
        from {raw}.calls c join bench_touches t on t.touch_ref = c.entry_id
        where c.is_missed
    """)
    _deals(conn, config, rng)
    _pool(conn, config)


def _deals(conn, config: Config, rng: np.random.Generator) -> None:
    raw = RAW_SCHEMA
    leads = conn.execute("""
        select lead_id, epoch_ms(touched_at) as at, phone, session_id is not null as has_session
        from bench_touches
        where touch_ref = substr(lead_id, 4) and phone is not null
        order by lead_id
    """).fetchnumpy()
    n = len(leads["lead_id"])
    chosen = np.flatnonzero(rng.random(n) < config.deal_rate)
    k = chosen.size
    extra = round(k * config.unmatched_deal_share)
    total = k + extra
    status = rng.choice(3, size=total, p=[0.35, 0.35, 0.30])  # won, lost, open
    created = np.concatenate(
        [
            leads["at"][chosen].astype("int64"),
            _day_start_ms(config, 0) + rng.integers(0, config.n_days * DAY_MS, extra),
        ]
    ) + rng.integers(30 * MINUTE_MS, 48 * 60 * MINUTE_MS, total)
    closed = created + rng.integers(DAY_MS, 10 * DAY_MS, total)
    has_session = np.concatenate([leads["has_session"][chosen], np.zeros(extra, bool)])
    way = rng.random(total)
    deals = pd.DataFrame(
        {
            "idx": np.arange(total, dtype="int64"),
            "lead": np.concatenate([chosen, np.full(extra, -1)]),
            "created": _ts(created),
            "closed": np.where(status < 2, _ts(closed), np.datetime64("NaT")),
            "updated": _ts(np.where(status < 2, closed, created + 3_600_000)),
            "status": status,
            "amount": np.round(rng.lognormal(10.2, 0.8, total), 2),
            # how the deal can be matched: its session id, else its phone in one of
            # the spellings managers type, else its utm tags
            "with_session": has_session & (way < 0.2),
            "with_utm": has_session & (way >= 0.2) & (way < 0.3),
            "spelling": rng.choice(3, size=total, p=[0.7, 0.2, 0.1]),
            "crm": np.where(rng.random(total) < 2 / 3, 0, 1),
        }
    )
    leads_frame = pd.DataFrame({"lead": np.arange(n), "lead_id": leads["lead_id"]})
    conn.register("bench_deals", deals)
    conn.register("bench_leads", leads_frame)
    try:
        conn.execute("""
            create temp table bench_deal_rows as
            select d.*, ft.session_id, ft.phone as lead_phone
            from bench_deals d
            left join bench_leads l on l.lead = d.lead
            left join bench_touches ft
                on ft.lead_id = l.lead_id and ft.touch_ref = substr(l.lead_id, 4)
        """)
    finally:
        conn.unregister("bench_deals")
        conn.unregister("bench_leads")
    loaded = f"timestamp '{(config.start_day + timedelta(days=config.n_days + 12)).isoformat()}'"
    for index, crm in enumerate(("amocrm", "bitrix24")):
        account = f"{COMPANY}.{crm}.ru"
        conn.execute(f"""
            insert into {raw}.crm_deals_{crm} by name
            with phones as (
                select *, coalesce(lead_phone,
                                   '+7977' || lpad(cast(idx as varchar), 7, '0')) as e164
                from bench_deal_rows where crm = {index}
            )
            select '{crm}' as crm, cast(d.idx as varchar) as deal_id,
                   '{COMPANY}' as company_id,
                   d.created as created_at, d.updated as updated_at, d.closed as closed_at,
                   case d.status when 0 then 'won' when 1 then 'lost' else 'open' end
                       as status,
                   cast(d.amount as decimal(18,2)) as amount, 'RUB' as currency,
                   'c' || substr(d.e164, 2) as contact_id,
                   case d.spelling
                       when 0 then d.e164
                       when 1 then '8 (' || substr(d.e164, 3, 3) || ') '
                           || substr(d.e164, 6, 3) || '-' || substr(d.e164, 9, 2) || '-'
                           || substr(d.e164, 11, 2)
                       else '+7 ' || substr(d.e164, 3, 3) || ' ' || substr(d.e164, 6, 3)
                           || ' ' || substr(d.e164, 9, 4)
                   end as contact_phone,
                   'u' || (d.idx % 12) as responsible_user_id,
                   case when d.with_session then d.session_id end as session_id,
                   case when d.with_utm then s.utm_source end as utm_source,
                   case when d.with_utm then s.utm_medium end as utm_medium,
                   case when d.with_utm then s.utm_campaign end as utm_campaign,
                   '{account}' as _account, {loaded} as _loaded_at
            from phones d
            left join {raw}.sessions s on d.with_utm and s.session_id = d.session_id
        """)
        conn.execute(f"""
            insert into {raw}.crm_contacts_{crm} by name
            select '{crm}' as crm, contact_id, '{COMPANY}' as company_id,
                   '+' || substr(contact_id, 2) as phone,
                   'Client ' || substr(contact_id, 6) as name,
                   min(responsible_user_id) as responsible_user_id,
                   min(created_at) as updated_at, '{account}' as _account,
                   {loaded} as _loaded_at
            from {raw}.crm_deals_{crm}
            group by contact_id
        """)


def _servers_needed(load: float, target: float) -> int:
    """The smallest pool with Erlang-B blocking <= target: the recurrence of
    realtime/pool/advisor.py's servers_needed, repeated here so that generating data
    does not import the realtime service (and its settings)."""
    blocking, n = 1.0, 0
    while load > 0 and blocking > target:
        n += 1
        blocking = load * blocking / (n + load * blocking)
    return n


def _pool(conn, config: Config) -> None:
    """A tracking_numbers snapshot per day and the pool with the advisor's size."""
    raw = RAW_SCHEMA
    end = config.start_day + timedelta(days=config.n_days)
    quarantine = f"timestamp '{(end + timedelta(days=90)).isoformat()}'"
    days = (
        f"select cast(d as date) as _day from range(date '{config.start_day.isoformat()}',"
        f" date '{end.isoformat()}', interval 1 day) t(d)"
    )
    if "tracking_numbers" in RAW_TABLES:
        conn.execute(f"""
        insert into {raw}.tracking_numbers by name
        with numbers as (
            select '+74952' || lpad(cast(i as varchar), 6, '0') as number, 'dynamic' as kind,
                   null as channel, false as is_former, null::timestamp as quarantine_until
            from range({config.pool_size}) t(i)
            union all
            select '{STATIC_NUMBER}', 'static', '{STATIC_CHANNEL}', false, null
            union all
            select '+74953' || lpad(cast(i as varchar), 6, '0'), 'dynamic', null, true,
                   {quarantine}
            from range({STRAY_NUMBERS}) t(i)
        )
        select '{COMPANY}' as company_id, n.number, 'RU-MOW' as region, n.kind, n.channel,
               n.is_former, n.quarantine_until, d._day
        from ({days}) d cross join numbers n
    """)
    traffic = conn.execute(f"""
        with hourly as (
            select _day, date_trunc('hour', leased_from) as hour, count(*) as arrivals
            from {raw}.number_leases group by 1, 2
        )
        select l._day, count(*) as leases,
               count(*) filter (where l.is_shared) as shared,
               avg(epoch(l.leased_until - l.leased_from)) / 60 as hold_minutes,
               (select max(arrivals) from hourly h where h._day = l._day) as peak
        from {raw}.number_leases l group by l._day order by l._day
    """).fetchall()
    rows = []
    target = 0.01
    for day, leases, shared, hold, peak in traffic:
        load = float(peak) * float(hold) / 60
        rows.append(
            (COMPANY, "RU-MOW", config.pool_size, 0, FREE_INVENTORY, leases, shared, shared,
             float(peak), float(hold), load, target, _servers_needed(load, target),
             datetime.combine(day + timedelta(days=1), datetime.min.time()), day)
        )  # fmt: skip
    if rows and "pool_snapshots" in RAW_TABLES:
        conn.executemany(
            f"insert into {raw}.pool_snapshots (company_id, region, size, leased_at_snapshot,"
            " free_inventory, leases, shared_leases, exhaustion_events, peak_arrivals_per_hour,"
            " mean_hold_minutes, offered_load_erlangs, target_blocking, recommended_size,"
            " taken_at, _day) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


GENERATED_TABLES = frozenset(
    {
        "sessions", "number_leases", "calls", "lead_touches", "callback_tasks",
        "pool_snapshots", "tracking_numbers", "ad_spend_yandex_direct", "ad_spend_google_ads",
        "crm_deals_amocrm", "crm_deals_bitrix24", "crm_contacts_amocrm", "crm_contacts_bitrix24",
    }
)  # fmt: skip


def generate(conn: duckdb.DuckDBPyConnection, config: Config) -> dict[str, int]:
    """Create the raw schema in `conn` and fill it; returns rows per raw table."""
    unknown = sorted(set(RAW_TABLES) - GENERATED_TABLES)
    if unknown:
        print(f"generate_raw: no generator for raw tables {unknown}; left empty", file=sys.stderr)
    create_raw_tables(conn)
    _lookup_tables(conn)
    conn.execute(
        "create temp table bench_forms (ref varchar, touch_type varchar, touched_at timestamp,"
        " session_id varchar, phone varchar, email varchar, page varchar, done_at timestamp,"
        " done boolean, _day date)"
    )
    rng = np.random.default_rng(config.seed)
    offsets = _Offsets()
    for day in range(config.n_days):
        start = _day_start_ms(config, day)
        leases, gaps = _leases_of_day(rng, config, start)
        sessions = _sessions_frame(rng, config, leases, offsets.session, day)
        calls = _calls_frame(rng, config, leases, gaps, sessions, offsets.call, start)
        forms = _forms_frame(rng, config, sessions, calls, offsets.form)
        spend = _spend_frame(rng, sessions, day)
        _insert_day(
            conn,
            config,
            day,
            {"sessions": sessions, "leases": leases, "calls": calls, "forms": forms,
             "spend": spend},
        )  # fmt: skip
        offsets.session += len(sessions)
        offsets.call += len(calls)
        offsets.form += len(forms)
    _finish(conn, config, rng)
    return {
        table: conn.execute(f"select count(*) from {RAW_SCHEMA}.{table}").fetchone()[0]
        for table in RAW_TABLES
    }


def write(path: Path, config: Config, force: bool = False) -> dict[str, int]:
    """Generate into a new DuckDB file at `path` (refuses to overwrite unless `force`)."""
    path = Path(path)
    if path.exists():
        if not force:
            raise FileExistsError(f"{path} exists; pass --force to replace it")
        path.unlink()
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            wal.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    try:
        return generate(conn, config)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (SF1 = 30 days)")
    parser.add_argument("--out", type=Path, required=True, help="DuckDB file to write")
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--sessions-per-day", type=int, default=Config.sessions_per_day)
    parser.add_argument("--days", type=int, default=None, help="override 30 x SF")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    config = Config(sf=args.sf, seed=args.seed, sessions_per_day=args.sessions_per_day,
                    days=args.days)  # fmt: skip
    began = time.perf_counter()
    try:
        counts = write(args.out, config, force=args.force)
    except FileExistsError as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - began
    for table, rows in counts.items():
        print(f"{table:28} {rows:>12,}")
    print(f"wrote {args.out} (SF{args.sf:g}, {config.n_days} days, seed {config.seed})"
          f" in {elapsed:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

