"""A key's window shared across machines: a sorted set in Redis (``--share redis://...``).

Each window is two keys, ``bulk-tasks:{HASH}:slots`` (a sorted set: slot -> when it ends)
and ``bulk-tasks:{HASH}:pause``; the braces keep both on one node of a Redis cluster. Each
call is one Lua script, atomic in Redis, timed by Redis's own clock (``TIME``), so the
machines' clocks never need to agree. A slot ends on its own; both keys expire once nobody
has used the window for a while, so nothing is left behind.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
import redis.exceptions

from ..window import WindowUnavailable

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
#: KEYS: slots, pause; ARGV: slot, limit, hold. "0" when taken, else the seconds to wait.
_TAKE = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return tostring(paused - now) end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    local hold = tonumber(ARGV[3])
    redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
    keep(KEYS[1], hold)
    return '0'
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(first[2]) - now)
"""
)
#: KEYS: slots; ARGV: slot, hold, what the server counts ("" if unknown), a name prefix
_RELEASE = (
    _PRELUDE
    + """
local hold = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = tonumber(ARGV[3])
if used then
    local missing = math.min(used - redis.call('ZCARD', KEYS[1]), 1000)
    for n = 1, missing do redis.call('ZADD', KEYS[1], now + hold, ARGV[4] .. n) end
end
keep(KEYS[1], hold)
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
        """Raise :class:`~bulk_tasks.window.WindowUnavailable` unless Redis answers."""
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
    """One key's window in Redis: a :class:`~bulk_tasks.window.WindowStore`."""

    def __init__(self, windows: RedisWindows, window: str) -> None:
        self._windows = windows
        self._slots = f"bulk-tasks:{{{window}}}:slots"
        self._pause = f"bulk-tasks:{{{window}}}:pause"

    async def take(self, slot: str, *, limit: int, hold: float) -> float:
        keys, args = [self._slots, self._pause], [slot, str(limit), repr(hold)]
        said = await self._windows.call(self._windows.take(keys, args), "taking a slot")
        return float(said)

    async def release(self, slot: str, *, hold: float, server_used: int | None) -> None:
        used = "" if server_used is None else str(server_used)
        args = [slot, repr(hold), used, self._windows.foreign_prefix()]
        await self._windows.call(self._windows.release([self._slots], args), "ending a slot")

    async def pause(self, seconds: float) -> None:
        await self._windows.call(self._windows.pause([self._pause], [repr(seconds)]), "pausing")
