"""Sending every line of a run: lanes of workers, one lane per API key.

:class:`SendingRun` reads the lines as a stream. A line that is to be sent goes to its
key's :class:`Lane`: the lane's packer gathers lines into requests, its queue holds the
requests ready to go, and its workers (a few per key) take them and send each through the
lane's :class:`~bulk_tasks.sending.sender.Sender`, which keeps the key's rate window. Keys are sent
in parallel, each under its own window. Every line ends with exactly one outcome, handed to
``on_outcome``: what its request got, or why it was never sent.

Memory stays flat: :class:`ReadAhead` lets the input be read only so far ahead of the
requests the workers have taken, and the packers hold a bounded number of lines. A batch
that has waited goes out unfilled only when one of its lane's workers has nothing to send:
while the rate limit keeps every worker busy, waiting longer costs nothing and fills
requests fuller.

Just before a request goes out, ``before_send`` marks its lines, and only its lines, as on
their way (the journal makes the marks durable before it returns): after a kill or a power
cut, the lines marked with no outcome after them are exactly those whose requests were on
their way, read as ``unknown`` and looked up.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..results import Outcome
from ..vendors.base import Ask
from .packing import Batch, Packer
from .sender import Announce, Attempts, Delivery, Sender, StopRun

L = TypeVar("L")

#: what a line is when the run stopped before it was sent
NOT_SENT = Attempts().cut_short()


@dataclass
class Ended:
    """How sending ended: the stop that ended the run, the keys refused along the way."""

    stopped: StopRun | None = None
    #: lane -> the refusal that stopped that key's lines (the run went on with the others)
    refused: dict[Hashable, StopRun] = field(default_factory=dict)


class ReadAhead:
    """How many lines may wait in the lanes' queues, not yet taken by a worker."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._waiting = 0
        self._taken = asyncio.Event()

    async def wait_for_room(self) -> None:
        while self._waiting >= self._most:
            self._taken.clear()
            await self._taken.wait()

    def queued(self, lines: int) -> None:
        self._waiting += lines

    def taken(self, lines: int) -> None:
        self._waiting -= lines
        self._taken.set()


class Lane(Generic[L]):
    """One API key's share of a run: its sender (its own window and rate), packer, queue."""

    def __init__(self, sender: Sender, packer: Packer[L]) -> None:
        self.sender = sender
        self.packer = packer
        #: the batches ready to go, in order
        self.ready: collections.deque[Batch[L]] = collections.deque()
        #: one ticket per batch in ``ready``, then one "no more" per worker: each ticket
        #: wakes exactly one waiting worker
        self._tickets: asyncio.Queue[bool] = asyncio.Queue()
        self.idle_workers = 0
        self.refused: StopRun | None = None

    def put(self, batch: Batch[L]) -> None:
        self.ready.append(batch)
        self._tickets.put_nowait(True)

    def end(self, workers: int) -> None:
        """No more batches: each of the ``workers`` ends once the queue is empty."""
        for _ in range(workers):
            self._tickets.put_nowait(False)

    async def take(self) -> Batch[L] | None:
        """The next batch, once there is one; None once there will be none."""
        self.idle_workers += 1
        try:
            more = await self._tickets.get()
        finally:
            self.idle_workers -= 1
        return self.ready.popleft() if more else None

    def wants_due(self) -> bool:
        """A worker waits with nothing to send: a batch that has waited may go now."""
        return bool(self.idle_workers) and not self.ready and bool(self.packer.waiting)


class SendingRun(Generic[L]):
    """Sends every line, packed into requests; lines not sent, or met after a stop, are
    reported too.

    ``ask_of`` returns what a line asks of the vendor, or None for a line that is not to be
    sent (whoever says so reports it). ``open_lane`` gives a key's lane (its sender and packer) when
    its first line comes (``lane_of`` says which lane a line is in), and each lane gets
    ``workers`` workers. ``stop`` ends the sending of new requests; ``abort`` also gives up
    on the requests on their way (their lines become unknown). A key refused by the vendor
    stops its own lane only, unless ``refusal_stops_run``.
    """

    def __init__(
        self,
        *,
        ask_of: Callable[[L], Ask | None],
        open_lane: Callable[[Hashable], Lane[L]],
        lane_of: Callable[[L], Hashable] = lambda _: "",
        creates: bool,
        on_outcome: Callable[[L, Outcome], None],
        stop: asyncio.Event,
        abort: asyncio.Event | None = None,
        before_send: Callable[[Sequence[L]], None] | None = None,
        workers: int,
        read_ahead: int = 10_000,
        refusal_stops_run: bool = True,
    ) -> None:
        self._ask_of = ask_of
        self._open_lane = open_lane
        self._lane_of = lane_of
        self._creates = creates
        self._on_outcome = on_outcome
        self._stop = stop
        self._abort = abort or asyncio.Event()
        self._before_send = before_send
        self._workers = workers
        self._read_ahead = ReadAhead(read_ahead)
        self._refusal_stops_run = refusal_stops_run
        self._lanes: dict[Hashable, Lane[L]] = {}
        self._sending: set[asyncio.Task[Any]] = set()  # workers with a request on its way
        self._aborted: set[asyncio.Task[Any]] = set()  # ... that the abort cancelled
        self._ended = Ended()

    async def send_all(self, lines: Iterable[L]) -> Ended:
        watcher = asyncio.get_running_loop().create_task(self._give_up_on_abort())
        try:
            async with asyncio.TaskGroup() as workers:
                await self._feed(lines, workers)
                for lane in self._lanes.values():
                    self._dispatch(lane, lane.packer.drain())
                    lane.end(self._workers)
        except ExceptionGroup as group_error:
            first = group_error.exceptions[0]
            # workers failed alike (a full disk fails every worker that writes): say it once
            if all(type(error) is type(first) for error in group_error.exceptions):
                raise first from None
            raise
        finally:
            watcher.cancel()
        return self._ended

    async def _feed(self, lines: Iterable[L], workers: asyncio.TaskGroup) -> None:
        """Every line to its lane's packer, the requests it fills to the lane's queue."""
        for count, line in enumerate(lines):
            ask = self._ask_of(line)
            if ask is not None:
                await self._read_ahead.wait_for_room()
                lane = self._lane(self._lane_of(line), workers)
                if self._stop.is_set():
                    self._on_outcome(line, NOT_SENT)
                elif lane.refused:
                    self._on_outcome(line, lane.refused.outcome)
                else:
                    self._dispatch(lane, lane.packer.add(line, ask))
                    # the requests on their way go on while the next line is asked for, which
                    # may take a while (the task ledger claims it): one line at a time
                    await asyncio.sleep(0)
                if lane.wants_due():
                    self._dispatch(lane, lane.packer.due())
            if count % 500 == 499:
                for lane in self._lanes.values():
                    if lane.wants_due():
                        self._dispatch(lane, lane.packer.due())
                await asyncio.sleep(0)  # let the workers run while invalid rows stream by

    def _lane(self, name: Hashable, workers: asyncio.TaskGroup) -> Lane[L]:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = self._open_lane(name)
            for _ in range(self._workers):
                workers.create_task(self._work(name, lane))
        return lane

    def _dispatch(self, lane: Lane[L], batches: Iterable[Batch[L]]) -> None:
        """Batches ready to go, onto the lane's queue (or reported, when none may go)."""
        for batch in batches:
            if self._stop.is_set():
                self._report(batch.lines, [NOT_SENT] * len(batch.lines))
            elif lane.refused:
                self._report(batch.lines, [lane.refused.outcome] * len(batch.lines))
            else:
                self._read_ahead.queued(len(batch.lines))
                lane.put(batch)

    async def _work(self, name: Hashable, lane: Lane[L]) -> None:
        """One worker: takes the lane's batches one by one and sends each."""
        while (batch := await self._next_batch(lane)) is not None:
            every = len(batch.lines)
            if self._stop.is_set():
                self._report(batch.lines, [NOT_SENT] * every)
                continue
            if lane.refused:
                self._report(batch.lines, [lane.refused.outcome] * every)
                continue
            attempts = Attempts()
            announce = None
            if self._before_send is not None:
                announce = functools.partial(self._before_send, batch.lines)
            try:
                # a create run's update of a task (a row edited since, --row-key) is no create
                creates = self._creates and not batch.request.edits
                outcomes = await self._send(
                    lane, Delivery(batch.request, creates), announce, attempts
                )
            except StopRun as stop_run:
                self._stopped_by(name, lane, stop_run)
                outcomes = [stop_run.outcome] * every
            self._report(batch.lines, outcomes or [attempts.cut_short()] * every)

    async def _next_batch(self, lane: Lane[L]) -> Batch[L] | None:
        batch = await lane.take()
        if batch is not None:
            self._read_ahead.taken(len(batch.lines))
        return batch

    async def _send(
        self, lane: Lane[L], delivery: Delivery, announce: Announce | None, attempts: Attempts
    ) -> list[Outcome] | None:
        """The lane's sender's outcomes, or None if the abort came first (it is given up)."""
        if self._abort.is_set():
            return None
        me = asyncio.current_task()
        assert me is not None
        self._sending.add(me)
        try:
            return await lane.sender.send(delivery, announce=announce, attempts=attempts)
        except asyncio.CancelledError:
            if me in self._aborted:
                self._aborted.discard(me)
                if me.uncancel() == 0:  # the abort's doing, and nobody else's
                    return None
            raise
        finally:
            self._sending.discard(me)

    async def _give_up_on_abort(self) -> None:
        await self._abort.wait()
        for task in self._sending:
            self._aborted.add(task)
            task.cancel()

    def _stopped_by(self, name: Hashable, lane: Lane[L], stop_run: StopRun) -> None:
        if stop_run.key_only and not self._refusal_stops_run:
            lane.refused = self._ended.refused.setdefault(name, stop_run)
        else:
            self._ended.stopped = self._ended.stopped or stop_run
            self._stop.set()

    def _report(self, lines: Iterable[L], outcomes: Iterable[Outcome]) -> None:
        for line, outcome in zip(lines, outcomes, strict=True):
            self._on_outcome(line, outcome)
