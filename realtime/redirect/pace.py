"""Mango's pace for route commands, shared by every replica of the service.

Mango accepts one `commands/route` per `mango_route_interval_seconds` per product (its
API key). Each process already keeps that pace for its own commands
(realtime/redirect/commands.py); with several replicas on one product, `RedisRoutePace`
makes them take turns through the Redis the pool already uses:

- `reserve` takes the product's turn if it is free and holds it for the length of one
  command (interval + command timeout), or says how long to wait;
- `release`, once Mango has answered, frees the next turn one interval after the
  answer, as the single-process pace does.

A replica that dies holding a turn blocks the product only until the hold runs out.
Times come from the Redis server's clock, so replicas with skewed clocks agree.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.settings import Settings

# While another replica holds the turn its answer may come any moment: ask this often.
HELD_POLL_MS = 50
# A call's greeting lasts seconds: a Redis that does not answer within this is treated
# as down (the caller then keeps its own pace) rather than waited for through the
# client's reconnect retries.
REDIS_TIMEOUT_SECONDS = 0.25

# KEYS[1]: the product's turn key: 'h<ms>' while a replica holds the turn (until
# then at most), '<ms>' once released (the next turn starts then).
# ARGV[1]: how long to hold a taken turn (ms); ARGV[2]: how often to ask while held (ms).
# Returns 0 when the turn is ours, else the milliseconds to wait before asking again.
RESERVE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local value = redis.call('GET', KEYS[1])
if value then
    local held = string.sub(value, 1, 1) == 'h'
    local until_ms = tonumber(held and string.sub(value, 2) or value)
    if now < until_ms then
        if held then
            return math.min(until_ms - now, tonumber(ARGV[2]))
        end
        return until_ms - now
    end
end
local hold = tonumber(ARGV[1])
redis.call('SET', KEYS[1], 'h' .. (now + hold), 'PX', hold)
return 0
"""

# KEYS[1]: the product's turn key. ARGV[1]: Mango's interval (ms), counted from now.
RELEASE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], now + interval, 'PX', interval)
return 1
"""


class RedisRoutePace:
    def __init__(
        self, client: Any, interval_seconds: float, hold_seconds: float, prefix: str = "cp:"
    ) -> None:
        self._r = client
        self._interval_ms = max(1, round(interval_seconds * 1000))
        self._hold_ms = max(1, round(hold_seconds * 1000))
        self._prefix = prefix
        self._reserve = client.register_script(RESERVE)
        self._release = client.register_script(RELEASE)

    @classmethod
    def from_url(
        cls, url: str, interval_seconds: float, hold_seconds: float, prefix: str = "cp:"
    ) -> RedisRoutePace:
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url), interval_seconds, hold_seconds, prefix)

    def _key(self, product: str) -> str:
        # The product is Mango's API key, a credential: only its digest goes to Redis.
        return f"{self._prefix}mango_route_turn:{hashlib.sha256(product.encode()).hexdigest()[:24]}"

    async def reserve(self, product: str) -> float:
        """0.0 if the product's turn is now ours; else seconds to wait before asking."""
        wait_ms = await asyncio.wait_for(
            self._reserve(keys=[self._key(product)], args=[self._hold_ms, HELD_POLL_MS]),
            REDIS_TIMEOUT_SECONDS,
        )
        return int(wait_ms) / 1000

    async def release(self, product: str) -> None:
        """Mango has answered our command: the next turn comes one interval later."""
        await asyncio.wait_for(
            self._release(keys=[self._key(product)], args=[self._interval_ms]),
            REDIS_TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        await self._r.aclose()


def shared_route_pace(settings: Settings) -> RedisRoutePace | None:
    """Replicas share the pool's Redis, so they share Mango's turns through it too; an
    embedded (SQLite) pool means a single process, which keeps the pace alone."""
    url = settings.pool_store_url
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    interval = settings.mango_route_interval_seconds
    return RedisRoutePace.from_url(
        url, interval, hold_seconds=interval + settings.mango_command_timeout_seconds
    )
