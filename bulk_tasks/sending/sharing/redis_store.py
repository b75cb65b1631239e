"""A key's window shared across machines: sorted sets in Redis (``--share redis://...``).

Each window is three keys: ``bulk-tasks:{HASH}:slots`` (a sorted set: slot -> when it
ends), ``bulk-tasks:{HASH}:foreign`` (the same for another tool's requests, as
:func:`~bulk_tasks.window.foreign_ends` keeps them) and ``bulk-tasks:{HASH}:pause``; the
braces keep them on one node of a Redis cluster. Each call is one Lua script, atomic in
Redis, timed by Redis's own clock (``TIME``), so the machines' clocks never need to agree.
A slot ends on its own; the keys expire once nobody has used the window for a while, so
nothing is left behind.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
import redis.exceptions

from ..window import FOREIGN_HOLDS, WindowUnavailable

# Shared by the scripts: the time now (seconds, Redis's clock), and keeping a key alive
# while its window may still count a slot.
_PRELUDE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local function keep(key, hold)
    local ms = math.ceil(hold * 1000) + 1000
    if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""
#: KEYS: slots, pause, foreign; ARGV: slot, limit, hold. The seconds to wait ("0" when
#: taken), and the slots counted (this one too when taken).
_TAKE = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local counted = redis.call('ZCARD', KEYS[1])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {tostring(paused - now), counted} end
if counted + redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[2]) then
    local hold = tonumber(ARGV[3])
    redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
    keep(KEYS[1], hold)
    return {'0', counted + 1}
end
local first = math.huge
for _, key in ipairs({KEYS[1], KEYS[3]}) do
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then first = math.min(first, tonumber(oldest[2])) end
end
return {tostring(first - now), counted}
"""
)
#: KEYS: slots, foreign; ARGV: slot, hold, another tool's requests an answer showed, how
#: many holds they are kept, a prefix for the names of new entries
_RELEASE = (
    _PRELUDE
    + """
local hold = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
keep(KEYS[1], hold)
local seen = math.min(tonumber(ARGV[3]), 1000)
if seen <= 0 then return 0 end
local ends = now + hold * tonumber(ARGV[4])
local top = redis.call('ZREVRANGE', KEYS[2], 0, seen - 1)
for n = 1, seen do
    redis.call('ZADD', KEYS[2], 'GT', ends, top[n] or (ARGV[5] .. n))
end
keep(KEYS[2], ends - now)
return 0
"""
)
#: KEYS: pause; ARGV: seconds
_PAUSE = (
    _PRELUDE
    + """
local seconds = tonumber(ARGV[1])
if now + seconds > tonumber(redis.call('GET', KEYS[1]) or '0') then
    redis.call('SET', KEYS[1], tostring(now + seconds), 'PX', math.ceil(seconds * 1000) + 1)
end
return 0
"""
)


def shown(url: str) -> str:
    """The URL without its password, to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisWindows:
    """The windows in one Redis database, through one client (a pool of connections)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.take = self.client.register_script(_TAKE)
        self.release = self.client.register_script(_RELEASE)
        self.pause = self.client.register_script(_PAUSE)
        self._foreign = (f"foreign:{secrets.token_hex(4)}:{n}:" for n in itertools.count())

    async def check(self) -> None:
        """Raise :class:`~bulk_tasks.sending.window.WindowUnavailable` unless Redis answers."""
        try:
            await self.client.ping()
        except (redis.exceptions.RedisError, OSError) as error:
            raise WindowUnavailable(
                f"--share {shown(self.url)}: cannot reach Redis ({error}); nothing was sent. "
                "Start Redis there or correct the URL (redis://HOST:PORT/DB), or leave --share "
                "out to share the window only with the runs on this machine"
            ) from None

    def store(self, window: str) -> RedisStore:
        return RedisStore(self, window)

    def foreign_prefix(self) -> str:
        return next(self._foreign)

    async def call(self, pending: Any, doing: str) -> Any:
        try:
            return await pending
        except (redis.exceptions.RedisError, OSError) as error:
            raise WindowUnavailable(
                f"--share {shown(self.url)}: Redis failed while {doing} ({error}); start Redis "
                "there or correct the URL, then run again with --resume (or leave --share out "
                "to share the window only with the runs on this machine)"
            ) from None

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisStore:
    """One key's window in Redis: a :class:`~bulk_tasks.sending.window.WindowStore`."""

    def __init__(self, windows: RedisWindows, window: str) -> None:
        self._windows = windows
        self._slots = f"bulk-tasks:{{{window}}}:slots"
        self._pause = f"bulk-tasks:{{{window}}}:pause"
        self._foreign = f"bulk-tasks:{{{window}}}:foreign"

    async def take(self, slot: str, *, limit: int, hold: float) -> tuple[float, int]:
        keys, args = [self._slots, self._pause, self._foreign], [slot, str(limit), repr(hold)]
        wait, counted = await self._windows.call(self._windows.take(keys, args), "taking a slot")
        return float(wait), int(counted)

    async def release(self, slot: str, *, hold: float, foreign: int) -> None:
        args = [slot, repr(hold), str(foreign), str(FOREIGN_HOLDS)]
        args.append(self._windows.foreign_prefix())
        keys = [self._slots, self._foreign]
        await self._windows.call(self._windows.release(keys, args), "ending a slot")

    async def pause(self, seconds: float) -> None:
        await self._windows.call(self._windows.pause([self._pause], [repr(seconds)]), "pausing")
