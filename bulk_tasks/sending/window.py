"""The rate limit as the server sees it: :class:`Rate`, :class:`RetryPolicy` and
:class:`ArrivalWindow`.

A request arrives at the server some time after we start sending it and before its answer
reaches us, and network delays vary, so spacing our send times is not enough.
:class:`ArrivalWindow` instead counts a request against the window from the moment it is
sent until ``period`` after its answer came back (while it is in flight, until the answer
timeout plus ``period``). Then any ``period``-long window of arrivals can hold only requests
that were counted together, which is never more than ``limit``.

Where the count is kept is a :class:`WindowStore`: :class:`MemoryStore` for this process
alone; :mod:`bulk_tasks.sending.sharing` keeps it for every process using the key (SQLite on one
machine, Redis across machines). Every slot in a store ends on its own, so the slots of a
process that died free themselves.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import math
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ..errors import OptionError


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


class WindowStore(Protocol):
    """Where one key's window is counted: slots, each ending at a time of the store's clock,
    and another tool's requests (see :func:`foreign_ends`).

    A slot is counted from :meth:`take` until its end; :meth:`release` moves its end to
    ``hold`` seconds from now. Every method is atomic against every other user of the store.

    The store's clock is one that nobody sets (a monotonic clock, or Redis's own): a step
    of the wall clock forward would end every slot early. And "now" is read when a method
    runs, after what it stands for: a take before its request leaves, a release after its
    answer was received; so a stalled event loop or a busy machine only delays the reading,
    which makes a slot last longer, never shorter.
    """

    async def take(self, slot: str, *, limit: int, hold: float) -> tuple[float, int]:
        """Count ``slot`` for ``hold`` seconds if fewer than ``limit`` are counted (every
        holder's slots and another tool's requests) and no pause is on: then 0.0. Otherwise
        nothing changes, and the answer is the seconds until the first counted slot ends
        (or the pause does). With it, how many slots of every holder are counted (the new
        one too, when taken; another tool's requests not)."""
        ...

    async def release(self, slot: str, *, hold: float, foreign: int) -> None:
        """``slot`` ends ``hold`` seconds from now. ``foreign``: another tool's requests an
        answer showed in the window; at least that many are counted until
        ``FOREIGN_HOLDS * hold`` from now."""
        ...

    async def pause(self, seconds: float) -> None:
        """No slot is taken for ``seconds`` (a 429's Retry-After), by anyone."""
        ...


class WindowUnavailable(Exception):
    """The store of a shared window cannot be reached: nothing more may be sent safely."""


#: how many periods another tool's traffic, once seen, is counted after it was last seen
FOREIGN_HOLDS = 2
#: the most slots one answer may count as another tool's (a nonsense header cannot flood)
MOST_FOREIGN = 1000


def foreign_ends(ends: Iterable[float], *, now: float, seen: int, until: float) -> list[float]:
    """When another tool's requests stop counting, sorted, once an answer showed ``seen``
    of them in the window: at least ``seen`` count until ``until``.

    Its traffic is taken to go on: a request of it that leaves the server's window is soon
    replaced by another. So a count does not fade with the requests the server saw; it is
    kept whole until no answer has shown it for ``FOREIGN_HOLDS`` periods. Letting it end
    sooner would let every slot free at once and send a burst into the other tool's share.
    """
    live = sorted((end for end in ends if end > now), reverse=True)
    for n in range(min(seen, MOST_FOREIGN)):
        if n < len(live):
            live[n] = max(live[n], until)
        else:
            live.append(until)
    live.reverse()
    return live


class MemoryStore:
    """A window counted in this process only (``--share off``, and tests)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends: dict[str, float] = {}  # slot -> when it ends
        self._heap: list[tuple[float, str]] = []  # (end, slot), stale entries skipped
        self._foreign: list[float] = []  # another tool's requests: when each stops counting
        self._paused_until = -math.inf

    def _prune(self, now: float) -> None:
        heap, ends = self._heap, self._ends
        while heap and (heap[0][0] <= now or ends.get(heap[0][1]) != heap[0][0]):
            end, slot = heapq.heappop(heap)
            if ends.get(slot) == end:
                del ends[slot]
        if self._foreign and self._foreign[0] <= now:
            self._foreign = [end for end in self._foreign if end > now]

    def _count(self, slot: str, end: float) -> None:
        self._ends[slot] = end
        heapq.heappush(self._heap, (end, slot))

    async def take(self, slot: str, *, limit: int, hold: float) -> tuple[float, int]:
        now = self._clock()
        self._prune(now)
        if now < self._paused_until:
            return self._paused_until - now, len(self._ends)
        if len(self._ends) + len(self._foreign) < limit:
            self._count(slot, now + hold)
            return 0.0, len(self._ends)
        first = min([self._heap[0][0] if self._heap else math.inf, *self._foreign[:1]])
        return first - now, len(self._ends)

    async def release(self, slot: str, *, hold: float, foreign: int) -> None:
        now = self._clock()
        self._count(slot, now + hold)
        if foreign > 0:
            until = now + FOREIGN_HOLDS * hold
            self._foreign = foreign_ends(self._foreign, now=now, seen=foreign, until=until)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)


class Slot:
    """A slot being held. The sender says what the server's answer said of the window;
    from that, the window tells another tool's requests (:meth:`ArrivalWindow.slot`)."""

    __slots__ = ("others", "refused", "server_used", "taken")

    def __init__(self, others: int, *, taken: float) -> None:
        #: the slots other holders of the window (other processes) counted when this one
        #: was taken
        self.others = others
        #: when it was taken (the window's clock): its request left no earlier
        self.taken = taken
        #: the requests the server counted in the key's window, when its answer says so
        self.server_used: int | None = None
        #: the server refused the request (a 429), when its answer says how full it was
        self.refused = False


class ArrivalWindow:
    """At most ``limit`` requests may arrive at the server in any ``period`` seconds.

    A request holds a slot from when it is sent until ``period`` (plus ``margin``) after its
    answer was received, because its arrival lies somewhere in between; while no answer has
    come, until ``answer_timeout`` plus ``period`` (plus ``margin``) after the send, so that
    the slots of a process that died end too. A 429 pauses every sender for the time the
    server asked. The count lives in ``store`` (this process only, by default).

    When an answer says how many requests the server counted in the key's window, what it
    counted beyond the other holders' slots and this process's requests is another tool's
    (:meth:`slot`). The server may take its count at any moment between the request's send
    and its answer's arrival: as the request arrives, or as it answers (lemlist does not
    say which). So the most requests of ours it can have counted at any one such moment
    count as ours (:meth:`_ours_at_most`); what is left is never more than another tool's
    requests, whichever moment the server chose, and the window keeps the largest count any
    answer showed for ``FOREIGN_HOLDS`` periods (:func:`foreign_ends`). Counting fewer of
    ours (those that arrived before this one, say) would take ours that arrived while a
    server that counts as it answers was busy with this one for another tool's, and slow
    the run for traffic that is not there.

    Such a count is close only when few of ours are on their way besides the request it
    answers: any of them may have been counted. A window's worth goes out in one burst when
    the window frees, before any of its answers is back. So with ``probes``, the first
    request goes alone, the others waiting for its answer (a period at most), when nothing
    of ours is on its way and the server's count must be learned: before the first answer,
    and while another tool's requests, or a 429 saying the window was full, were seen
    within ``FOREIGN_HOLDS`` periods (another tool may have sent more while the window was
    full). Without it, another tool's share of a window would draw a burst of 429s before
    any answer could show it.
    """

    def __init__(
        self,
        rate: Rate,
        *,
        store: WindowStore | None = None,
        margin: float = 0.01,
        answer_timeout: float = math.inf,
        probes: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.rate = rate
        #: a request goes alone first when the server's count must be learned
        self.probes = probes
        #: "now": by default the running event loop's clock (a monotonic one), which the
        #: window's waits keep too, so a loop whose clock a test moves moves the window's
        self._clock = clock or _loop_time
        self._store: WindowStore = store if store is not None else MemoryStore(clock=self._clock)
        self._answered_hold = rate.period + margin
        self._in_flight_hold = answer_timeout + rate.period + margin
        #: how often to look again when the first slot to end is one still in flight: a
        #: slot answered meanwhile ends ``period`` after its answer, so this is soon enough
        self._look_again = min(self._answered_hold / 4, 0.5)
        self._turn = asyncio.Lock()  # this process's senders queue up in order
        self._answered = asyncio.Event()  # one of this process's slots got its answer
        window = next(_WINDOWS)  # not id(self): a window may get the id of one gone before
        self._names = (f"{_PROCESS}-{window}-{n}" for n in itertools.count())
        self._in_flight: set[Slot] = set()  # this process's slots taken and not ended yet
        #: when this process's slots ended and when each was taken (oldest end first), while
        #: they are still held or ended within a period before a slot in flight was taken
        self._ended: deque[tuple[float, float]] = deque()
        #: the slot of a request sent alone, until it ends; the others wait for its answer
        self._probe: Slot | None = None
        self._probe_ended = asyncio.Event()
        self._answered_once = False  # one of this process's slots has ended
        #: until then, the server's count must be learned: another tool's requests, or a 429
        #: with the window full, were seen
        self._learning_until = -math.inf

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """A slot for one request; when it ends, what its answer showed of another tool's
        requests is counted in the window too."""
        name, held = await self._acquire()
        try:
            yield held
        finally:
            foreign = self._end(held)
            # when the store cannot be reached, the slot ends on its own later: never early
            with contextlib.suppress(WindowUnavailable):
                await self._store.release(name, hold=self._answered_hold, foreign=foreign)
            self._answered.set()
            if held is self._probe:
                self._probe = None
                self._probe_ended.set()

    def _end(self, held: Slot) -> int:
        """``held`` ends now. Returns what the server counted beyond the other holders'
        slots and the most requests of ours it can have counted (0 when the answer did not
        say)."""
        now = self._clock()
        ours = 0 if held.server_used is None else self._ours_at_most(held, now)
        self._in_flight.discard(held)
        self._ended.append((now, held.taken))
        self._forget(now)
        self._answered_once = True
        if held.server_used is None:
            return 0
        foreign = max(0, held.server_used - held.others - ours)
        # a 429 with the window full: another tool may have sent more than any answer showed
        if foreign or (held.refused and held.server_used >= self.rate.limit):
            self._learning_until = now + FOREIGN_HOLDS * self._answered_hold
        return foreign

    def _ours_at_most(self, held: Slot, now: float) -> int:
        """The most requests of ours the server can have counted at any one moment between
        ``held``'s send and its answer (``now``). A request may be counted in a window from
        when it was sent (it may have arrived at once) until a period after its answer came
        (it may have arrived just before); a request with no answer yet, from when it was
        sent on. Ours sent while this one waited count only from their send, and ours
        answered a period before its send only until then: at no single moment can both
        be counted, so counting every one at once would take another tool's requests for
        ours."""
        period = self.rate.period
        starts = [slot.taken for slot in self._in_flight]  # this one too
        ends = [math.inf] * len(starts)
        for end, taken in self._ended:
            if end + period >= held.taken:
                starts.append(taken)
                ends.append(end + period)
        starts.sort()
        ends.sort()
        # the count only grows at a start: the most is at this one's send or at a later start
        moments = [held.taken, *(start for start in starts if held.taken < start <= now)]
        return max(
            bisect.bisect_right(starts, moment) - bisect.bisect_left(ends, moment)
            for moment in moments
        )

    def _forget(self, now: float) -> None:
        """Drop the ends no longer held in the store, nor within a period before a slot
        still in flight was taken."""
        oldest = min((slot.taken for slot in self._in_flight), default=now)
        keep = min(now - self._answered_hold, oldest - self.rate.period)
        while self._ended and self._ended[0][0] < keep:
            self._ended.popleft()

    def _learning(self, now: float) -> bool:
        """Whether the server's count must be learned before a burst goes."""
        return not self._answered_once or now < self._learning_until

    def _held_ended(self, now: float) -> int:
        """This process's slots that ended and are still held in the store."""
        gone = bisect.bisect_right(self._ended, now - self._answered_hold, key=_end_of)
        return len(self._ended) - gone

    async def pause(self, seconds: float) -> None:
        await self._store.pause(seconds)

    async def _acquire(self) -> tuple[str, Slot]:
        name = next(self._names)
        async with self._turn:
            if self._probe is not None:
                # a probe with no answer in a period (a hang) stops holding the others: they
                # go on without what it would have said, as before any probe
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._probe_ended.wait(), self._answered_hold)
                self._probe = None
            while True:
                wait, counted = await self._store.take(
                    name, limit=self.rate.limit, hold=self._in_flight_hold
                )
                if wait <= 0:
                    now = self._clock()
                    # the store counted every holder's slots, this one too
                    others = counted - 1 - len(self._in_flight) - self._held_ended(now)
                    held = Slot(max(0, others), taken=now)
                    if self.probes and not self._in_flight and self._learning(now):
                        self._probe = held
                        self._probe_ended.clear()
                    self._in_flight.add(held)
                    return name, held
                if wait <= self._answered_hold:
                    await asyncio.sleep(wait + _LATE)  # an answered slot ends then
                    continue
                self._answered.clear()  # the first to end is in flight, or a pause is on
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._answered.wait(), self._look_again)


#: slot names start with it, so that processes sharing a store never pick the same
_PROCESS = secrets.token_hex(4)
#: numbers the windows of this process, whose slot names follow that of the process
_WINDOWS = itertools.count()
#: asleep until a slot ends, wake this much later: a timer may fire a hair early
_LATE = 0.001


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _end_of(ended: tuple[float, float]) -> float:
    """When a slot of :attr:`ArrivalWindow._ended` ended."""
    return ended[0]
