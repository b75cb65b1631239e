"""The rate limit as the server sees it: :class:`Rate`, :class:`RetryPolicy` and
:class:`ArrivalWindow`.

A request arrives at the server some time after we start sending it and before its answer
reaches us, and network delays vary, so spacing our send times is not enough.
:class:`ArrivalWindow` instead counts a request against the window from the moment it is
sent until ``period`` after its answer came back (forever while it is still in flight).
Then any ``period``-long window of arrivals can hold only requests that were counted
together, which is never more than ``limit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .errors import OptionError


@dataclass(frozen=True)
class Rate:
    """``limit`` requests in any ``period`` seconds."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``--rate N/SECONDS``, e.g. ``20/2`` or ``10/2.5``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", text)
        if not match or int(match[1]) < 1 or float(match[2]) <= 0:
            raise OptionError(
                f'--rate "{text}": write requests/seconds, e.g. --rate 20/2 for 20 every 2 s'
            )
        return cls(int(match[1]), float(match[2]))


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 8  # per row, all causes together, the first try included
    wait_initial: float = 0.5
    wait_max: float = 20.0
    wait_jitter: float = 0.5
    #: a Retry-After longer than this is not believed (a typo'd header must not stall a run)
    longest_retry_after: float = 300.0
    #: when this many rows in a row could not connect at all, the run stops
    connection_failures_to_stop: int = 3


class ArrivalWindow:
    """At most ``limit`` requests may arrive at the server in any ``period`` seconds.

    A request holds a slot from when it is sent until ``period`` (plus ``margin``) after its
    answer was received, because its arrival lies somewhere in between. A 429 pauses every
    sender for the time the server asked.
    """

    def __init__(self, rate: Rate, *, margin: float = 0.01) -> None:
        self.rate = rate
        self._margin = margin
        self._in_flight = 0
        self._answered: deque[float] = deque()  # answer times, oldest first
        self._paused_until = 0.0
        self._turn = asyncio.Lock()  # senders queue up in order
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answered.append(self._now())
            self._changed.set()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._now() + seconds)
        self._changed.set()

    async def _acquire(self) -> None:
        async with self._turn:
            while (wait := self._wait_needed()) > 0:
                self._changed.clear()
                timeout = None if math.isinf(wait) else wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
            self._in_flight += 1

    def _wait_needed(self) -> float:
        now = self._now()
        hold = self.rate.period + self._margin
        while self._answered and self._answered[0] + hold <= now:
            self._answered.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if self._in_flight + len(self._answered) < self.rate.limit:
            return 0.0
        if self._answered:
            return self._answered[0] + hold - now
        return math.inf  # every slot is in flight: wait for an answer

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
