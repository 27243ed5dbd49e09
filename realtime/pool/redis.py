"""Redis pool store: production live pool state, shared by every realtime replica.

Each decision is one Lua script, which Redis runs atomically: no other command
interleaves, so two replicas can never lease or bind the same number.

Keys (prefix `cp:` by default):
- `n:{number}`               hash: region, kind, channel, company, bound_at, last_shown,
                              last_call, q_until, former, leased_until, session (ms epoch)
- `bound:{company}:{region}` zset of the company's dynamic numbers by `leased_until`:
                              the lowest score is free soonest and least recently active
- `inv:{region}`             zset of unbound dynamic numbers by `q_until` (0 = never bound)
- `idle`                     zset of bound numbers by last activity (shown, call, bound)
- `all`                      set of every number; `static:{company}` set of static numbers
- `exh:{company}`            zset of exhaustion events (member unique, score ms)
- `rl:{key}:{window}`        rate-limit counters with a TTL

Scripts build key names from their arguments, so this layout suits a single Redis
(or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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

ACQUIRE = """
local p, company, session = ARGV[1], ARGV[2], ARGV[3]
local now, untl, share = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local nregions = tonumber(ARGV[7])
local function lease(number, region, bkey, outcome)
  local nkey = p .. 'n:' .. number
  local cur = tonumber(redis.call('HGET', nkey, 'leased_until') or '0')
  local newuntil = math.max(cur, untl)
  redis.call('HSET', nkey, 'leased_until', newuntil, 'session', session, 'last_shown', now)
  redis.call('ZADD', bkey, newuntil, number)
  redis.call('ZADD', p .. 'idle', now, number)
  return {outcome, number, region}
end
for i = 1, nregions do
  local region = ARGV[7 + i]
  local bkey = p .. 'bound:' .. company .. ':' .. region
  local r = redis.call('ZRANGEBYSCORE', bkey, '-inf', now, 'LIMIT', 0, 1)
  if #r > 0 then return lease(r[1], region, bkey, 'free') end
  local ikey = p .. 'inv:' .. region
  r = redis.call('ZRANGEBYSCORE', ikey, '-inf', now, 'LIMIT', 0, 1)
  if #r > 0 then
    redis.call('ZREM', ikey, r[1])
    redis.call('HSET', p .. 'n:' .. r[1], 'company', company, 'bound_at', now,
               'former', '', 'q_until', 0, 'leased_until', 0)
    return lease(r[1], region, bkey, 'grown')
  end
end
local first = ARGV[8] or ''
redis.call('ZADD', p .. 'exh:' .. company, now, now .. ':' .. session)
if share == '1' then
  for i = 1, nregions do
    local region = ARGV[7 + i]
    local bkey = p .. 'bound:' .. company .. ':' .. region
    local r = redis.call('ZRANGE', bkey, 0, 0)
    if #r > 0 then return lease(r[1], region, bkey, 'shared') end
  end
end
return {'exhausted', '', first}
"""

RENEW = """
local p, company, number = ARGV[1], ARGV[2], ARGV[3]
local now, untl = tonumber(ARGV[4]), tonumber(ARGV[5])
local nkey = p .. 'n:' .. number
local h = redis.call('HMGET', nkey, 'company', 'kind', 'region', 'leased_until')
if h[1] ~= company or h[2] ~= 'dynamic' then return 0 end
local newuntil = math.max(tonumber(h[4] or '0'), untl)
redis.call('HSET', nkey, 'leased_until', newuntil, 'last_shown', now)
redis.call('ZADD', p .. 'bound:' .. company .. ':' .. h[3], newuntil, number)
redis.call('ZADD', p .. 'idle', now, number)
return 1
"""

RECORD_CALL = """
local p, company, number, at = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local nkey = p .. 'n:' .. number
local h = redis.call('HMGET', nkey, 'company', 'kind')
if h[1] ~= company or h[2] ~= 'dynamic' then return 0 end
local last = tonumber(redis.call('HGET', nkey, 'last_call') or '0')
if at > last then
  redis.call('HSET', nkey, 'last_call', at)
  local idle = tonumber(redis.call('ZSCORE', p .. 'idle', number) or '0')
  if at > idle then redis.call('ZADD', p .. 'idle', at, number) end
end
return 1
"""

# Release one number if it is still idle; the quarantine length is computed by the
# caller from the region's free share, which this script also returns for the record.
RELEASE = """
local p, number = ARGV[1], ARGV[2]
local now, idle_before = tonumber(ARGV[3]), tonumber(ARGV[4])
local qmin, qmax, ample = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local nkey = p .. 'n:' .. number
local h = redis.call('HMGET', nkey, 'company', 'region', 'leased_until', 'kind')
local company, region = h[1], h[2]
if not company or company == '' or h[4] ~= 'dynamic' then
  redis.call('ZREM', p .. 'idle', number)
  return false
end
local last = tonumber(redis.call('ZSCORE', p .. 'idle', number) or '0')
if tonumber(h[3] or '0') > now or last > idle_before then return false end
local ikey = p .. 'inv:' .. region
local total = tonumber(redis.call('HGET', p .. 'regions', region) or '0')
local free = redis.call('ZCOUNT', ikey, '-inf', now)
local ratio = 0
if total > 0 then ratio = free / total end
local scale = math.min(1, math.max(0, ratio / ample))
local days = math.floor(qmin + (qmax - qmin) * scale + 0.5)
local q_until = now + days * 86400000
redis.call('HSET', nkey, 'company', '', 'former', company, 'bound_at', '', 'q_until', q_until,
           'session', '')
redis.call('ZREM', p .. 'bound:' .. company .. ':' .. region, number)
redis.call('ZREM', p .. 'idle', number)
redis.call('ZADD', ikey, q_until, number)
return {company, tostring(q_until)}
"""

RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def _ms(value: datetime) -> int:
    return int(to_ms(value).timestamp() * 1000)


def _dt(value: Any) -> datetime | None:
    if value in (None, "", "0", 0, b"", b"0"):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


class RedisPoolStore:
    def __init__(self, client: Any, prefix: str = "cp:") -> None:
        self._r = client
        self._p = prefix
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._record_call = client.register_script(RECORD_CALL)
        self._release = client.register_script(RELEASE)
        self._rate = client.register_script(RATE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "cp:") -> RedisPoolStore:
        import redis

        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    def close(self) -> None:
        self._r.close()

    def import_numbers(self, numbers: list[InventoryNumber]) -> int:
        added = 0
        for n in numbers:
            key = f"{self._p}n:{n.number}"
            # HSETNX on `region` makes re-imports harmless even when run concurrently.
            if not self._r.hsetnx(key, "region", n.region):
                continue
            added += 1
            company = n.company_id if n.kind == "static" else ""
            pipe = self._r.pipeline()
            pipe.hset(
                key,
                mapping={
                    "kind": n.kind,
                    "city_code": n.city_code or "",
                    "channel": n.channel or "",
                    "company": company or "",
                    "bound_at": "",
                    "last_shown": 0,
                    "last_call": 0,
                    "q_until": 0,
                    "former": "",
                    "leased_until": 0,
                    "session": "",
                },
            )
            pipe.sadd(f"{self._p}all", n.number)
            if n.kind == "dynamic":
                pipe.zadd(f"{self._p}inv:{n.region}", {n.number: 0})
                pipe.hincrby(f"{self._p}regions", n.region, 1)
            elif company:
                pipe.sadd(f"{self._p}static:{company}", n.number)
            pipe.execute()
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
        outcome, number, region = self._acquire(
            args=[
                self._p,
                company_id,
                session_id,
                _ms(now),
                _ms(until),
                "1" if share_when_exhausted else "0",
                len(regions),
                *regions,
            ]
        )
        if outcome == "exhausted":
            return Grant(outcome="exhausted")
        return Grant(outcome=outcome, number=number, region=region, leased_until=to_ms(until))

    def renew(self, company_id: str, number: str, now: datetime, until: datetime) -> bool:
        return bool(self._renew(args=[self._p, company_id, number, _ms(now), _ms(until)]))

    def record_call(self, company_id: str, number: str, at: datetime) -> None:
        self._record_call(args=[self._p, company_id, number, _ms(at)])

    def state(self, number: str) -> NumberState | None:
        h = self._r.hgetall(f"{self._p}n:{number}")
        if not h:
            return None
        return NumberState(
            number=number,
            region=h["region"],
            city_code=h.get("city_code") or None,
            kind=h["kind"],
            channel=h.get("channel") or None,
            company_id=h.get("company") or None,
            bound_at=_dt(h.get("bound_at")),
            last_shown_at=_dt(h.get("last_shown")),
            last_call_at=_dt(h.get("last_call")),
            quarantine_until=_dt(h.get("q_until")),
            former_company_id=h.get("former") or None,
            leased_until=_dt(h.get("leased_until")),
            session_id=h.get("session") or None,
        )

    def list_states(self, company_id: str | None = None) -> list[NumberState]:
        states = [self.state(n) for n in sorted(self._r.smembers(f"{self._p}all"))]
        return [s for s in states if s and (company_id is None or s.company_id == company_id)]

    def sweep(self, now: datetime, policy: PoolPolicy) -> list[Release]:
        idle_before = _ms(now - policy.binding)
        candidates = self._r.zrangebyscore(f"{self._p}idle", "-inf", idle_before)
        released = []
        for number in sorted(
            candidates, key=lambda n: (self._r.hget(f"{self._p}n:{n}", "region") or "", n)
        ):
            result = self._release(
                args=[
                    self._p,
                    number,
                    _ms(now),
                    idle_before,
                    policy.quarantine_min_days,
                    policy.quarantine_max_days,
                    policy.quarantine_ample_free_ratio,
                ]
            )
            if result:
                company, q_until = result
                released.append(
                    Release(
                        number=number,
                        company_id=company,
                        released_at=to_ms(now),
                        quarantine_until=_dt(q_until),
                    )
                )
        return released

    def stats(self, company_id: str, now: datetime, since: datetime) -> PoolStats:
        now_ms = _ms(now)
        regions = sorted(self._r.hkeys(f"{self._p}regions"))
        out = []
        for region in regions:
            bkey = f"{self._p}bound:{company_id}:{region}"
            out.append(
                RegionStats(
                    region=region,
                    bound=self._r.zcard(bkey),
                    leased_now=self._r.zcount(bkey, f"({now_ms}", "+inf"),
                    free_inventory=self._r.zcount(f"{self._p}inv:{region}", "-inf", now_ms),
                )
            )
        exhausted = self._r.zcount(f"{self._p}exh:{company_id}", _ms(since), "+inf")
        return PoolStats(company_id=company_id, regions=out, exhaustion_events=exhausted)

    def hit_rate_limit(self, key: str, now: datetime, window_seconds: int) -> int:
        window = int(now.timestamp()) // window_seconds
        return int(self._rate(keys=[f"{self._p}rl:{key}:{window}"], args=[window_seconds * 2000]))
