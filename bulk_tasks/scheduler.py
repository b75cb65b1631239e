"""Rate-limited sending: a few workers, a pool of connections and an arrival window per API key.

A request may carry several lines (a Saleshandy task for many prospects): the window counts
requests, never lines, and the answer gives an outcome per line.

The rate guarantee is about what the *server* sees: :class:`~bulk_tasks.window.ArrivalWindow`
counts each request from when it is sent until ``period`` after its answer came back. An
``aiolimiter`` bucket in front spaces the sends evenly, so the limit is used smoothly
rather than in bursts.

Retries (``stamina``): 429 waits what Retry-After says; 5xx and failures to connect back off
exponentially with jitter; a create that was sent but got no answer is never sent again
(it may exist), while an update (the same PATCH again) may be.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import (
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import stamina
from aiolimiter import AsyncLimiter

from . import __version__
from .packing import Packed, Packer
from .results import INTERRUPTED, Outcome, Status
from .transport import HttpxTransport, Transport
from .vendors.base import Answer, Ask, LineAnswer, Request, Vendor, Verdict
from .window import ArrivalWindow, Rate, RetryPolicy

L = TypeVar("L")


@dataclass(frozen=True)
class Job:
    """One request to send (carrying one or more lines), and whether sending it twice could
    make two tasks."""

    request: Request
    creates: bool


@dataclass
class Attempts:
    """How far one job got; what is left to say of it when a run is cut short."""

    tries: int = 0
    on_the_wire: bool = False  # a request is out and its answer not read yet
    unanswered: bool = False  # an earlier request got no answer: it may have been applied

    def cut_short(self) -> Outcome:
        if self.on_the_wire or self.unanswered:
            return Outcome(
                status=Status.UNKNOWN,
                error_code="interrupted",
                error_message=INTERRUPTED,
                attempts=self.tries,
            )
        return Outcome(
            status=Status.NOT_SENT,
            error_code="run_stopped",
            error_message=NOT_SENT_MESSAGE,
            attempts=self.tries,
        )


NOT_SENT_MESSAGE = "the run stopped before this row was sent; run again with --resume"
_LINE_STATUS = {Verdict.FAILED: Status.FAILED, Verdict.UNKNOWN: Status.UNKNOWN}


class _Retry(Exception):
    """This attempt did not apply; another may."""

    def __init__(self, answer: Answer | None, reason: str, *, connected: bool) -> None:
        super().__init__(reason)
        self.answer = answer
        self.connected = connected


class _NoAnswer(Exception):
    """Sent, and no answer came back: the vendor may have applied it."""


class _Stopped(Exception):
    """The run is stopping: no new request goes out."""


class StopRun(Exception):
    """No further row can succeed (the key was refused, or the vendor cannot be reached).

    ``outcome`` is what each line of the request that found it out becomes.
    """

    def __init__(self, outcome: Outcome, message: str, *, key_only: bool = False) -> None:
        super().__init__(message)
        self.outcome = outcome
        #: only the lines sent with this key are stopped (the vendor refused the key)
        self.key_only = key_only


Announce = Callable[[], Awaitable[None]]


class Sender:
    """Sends jobs for one API key under its arrival window, with retries.

    Once the vendor refuses the key, nothing more is sent with it: every later job ends in
    the same :class:`StopRun`.
    """

    def __init__(
        self,
        *,
        transport: Transport | httpx.AsyncBaseTransport,
        vendor: Vendor,
        key: str,
        base_url: str,
        rate: Rate,
        retry: RetryPolicy,
        stop: asyncio.Event | None = None,
        key_env: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if isinstance(transport, httpx.AsyncBaseTransport):  # httpx.MockTransport, in tests
            transport = HttpxTransport(transport)
        self._transport = transport
        self._timeout = timeout
        self._vendor = vendor
        #: the variable the key came from, to name in messages (never the key itself)
        self._key_env = key_env or vendor.key_env
        self._refused: StopRun | None = None
        self._headers = [
            *vendor.auth_headers(key).items(),
            ("Content-Type", "application/json"),
            ("User-Agent", _USER_AGENT),
        ]
        self._base_url = base_url.rstrip("/")
        self._retry = retry
        self._stop = stop or asyncio.Event()
        self._window = ArrivalWindow(rate)
        self._pace = AsyncLimiter(1, rate.period / rate.limit)
        self._unreachable_rows = 0

    async def send(
        self, job: Job, *, announce: Announce | None = None, attempts: Attempts | None = None
    ) -> list[Outcome]:
        """Send one job until it is done, refused, or retrying can no longer help.

        Returns an outcome per line the request carries, in the order of the vendor's
        subjects. ``announce`` is awaited once, just before the first request goes out (the
        journal's "sending" marks). Once the run is stopping, no further request is sent.
        """
        every = len(self._vendor.subjects(job.request))
        attempts = attempts or Attempts()
        if self._refused is not None:  # not even a window slot for a key refused already
            raise StopRun(self._refused.outcome, str(self._refused), key_only=True)
        try:
            try:
                answer = await self._attempt(job, attempts, announce)
            except _Retry as first:  # most requests succeed at once: retrying starts here
                answer = await self._retrying(job, attempts, announce, first)
        except _Retry as gave_up:
            return [self._gave_up(gave_up, attempts.tries)] * every
        except _NoAnswer as lost:
            unknown = Outcome(
                status=Status.UNKNOWN,
                error_code="no_answer",
                error_message=str(lost),
                attempts=attempts.tries,
            )
            return [unknown] * every
        except _Stopped:
            return [attempts.cut_short()] * every
        self._unreachable_rows = 0
        return self._settled(answer, job, attempts.tries, every)

    async def _retrying(
        self, job: Job, attempts: Attempts, announce: Announce | None, first: _Retry
    ) -> Answer:
        """The attempts after a first one failed with ``first``, backing off between them."""
        failed: _Retry | None = first
        async for attempt in stamina.retry_context(
            on=self._backoff,
            attempts=self._retry.attempts,
            timeout=None,
            wait_initial=self._retry.wait_initial,
            wait_max=self._retry.wait_max,
            wait_jitter=self._retry.wait_jitter,
        ):
            with attempt:
                if failed is not None:  # the first attempt, replayed: stamina backs off
                    error, failed = failed, None
                    raise error
                return await self._attempt(job, attempts, announce)
        raise AssertionError("stamina ends by returning or raising")  # pragma: no cover

    def _backoff(self, error: Exception) -> bool | float:
        if not isinstance(error, _Retry):
            return False
        if error.answer is not None and error.answer.http_status == 429:
            return 0.0  # the window's pause does the waiting, for every sender at once
        return True

    async def _attempt(self, job: Job, attempts: Attempts, announce: Announce | None) -> Answer:
        url = self._base_url + job.request.path
        body = _JSON.encode(job.request.body).encode()
        async with self._window.slot():
            await self._pace.acquire()
            if self._stop.is_set():
                raise _Stopped
            if self._refused is not None:
                raise StopRun(self._refused.outcome, str(self._refused), key_only=True)
            if announce is not None and attempts.tries == 0:
                await announce()
            attempts.tries += 1
            attempts.on_the_wire = True  # stays so if this task is cancelled mid-request
            try:
                reply = await self._transport.exchange(
                    job.request.method, url, self._headers, body, self._timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                attempts.on_the_wire = False
                raise _Retry(None, _describe(error), connected=False) from None
            except httpx.TransportError as error:
                attempts.on_the_wire, attempts.unanswered = False, True
                if job.creates:
                    raise _NoAnswer(_describe(error) + _MAY_EXIST) from None
                raise _Retry(None, _describe(error), connected=True) from None
            attempts.on_the_wire = False
        answer = self._vendor.read(reply.status, reply.headers, reply.content, sent=job.request)
        if answer.verdict is Verdict.RETRY:
            if answer.http_status == 429:
                self._window.pause(self._retry_after(answer))
            raise _Retry(answer, answer.error_message, connected=True)
        return answer

    def _retry_after(self, answer: Answer) -> float:
        wait = answer.retry_after if answer.retry_after is not None else 1.0
        return min(wait, self._retry.longest_retry_after)

    def _settled(self, answer: Answer, job: Job, tries: int, every: int) -> list[Outcome]:
        if answer.verdict is Verdict.REJECTED_KEY:
            outcome = Outcome(
                status=Status.NOT_SENT,
                http_status=answer.http_status,
                error_code="key_rejected",
                error_message=(
                    f"{self._vendor.name} refused the API key in {self._key_env}; nothing was "
                    f"created: check {self._key_env}, then run again with --resume"
                ),
                attempts=tries,
            )
            self._refused = StopRun(outcome, self._key_message(answer), key_only=True)
            raise self._refused
        if answer.verdict is Verdict.FAILED:
            refused = Outcome(
                status=Status.FAILED,
                http_status=answer.http_status,
                error_code=answer.error_code,
                error_message=answer.error_message,
                attempts=tries,
            )
            return [refused] * every
        done = Status.CREATED if job.creates else Status.UPDATED
        lines = (
            answer.lines
            or (
                LineAnswer(
                    verdict=Verdict.DONE,
                    remote_id=answer.remote_id,
                    error_message=answer.error_message,
                ),
            )
            * every
        )
        return [
            Outcome(
                status=_LINE_STATUS.get(line.verdict, done),
                remote_id=line.remote_id,
                http_status=answer.http_status,
                error_code=line.error_code,
                error_message=line.error_message,
                attempts=tries,
            )
            for line in lines
        ]

    def _key_message(self, answer: Answer) -> str:
        return (
            f"{self._vendor.name} refused the API key in {self._key_env} (HTTP "
            f"{answer.http_status}: {answer.error_message or 'no details'}): check "
            f"{self._key_env}, then run again with --resume"
        )

    def _gave_up(self, last: _Retry, tries: int) -> Outcome:
        if not last.connected:
            self._unreachable_rows += 1
            outcome = Outcome(
                status=Status.NOT_SENT,
                error_code="unreachable",
                error_message=f"{last}; nothing was sent ({tries} tries)",
                attempts=tries,
            )
            if self._unreachable_rows >= self._retry.connection_failures_to_stop:
                raise StopRun(outcome, f"cannot reach {self._vendor.name}: {last}")
            return outcome
        self._unreachable_rows = 0
        if last.answer is None:  # an update that never got an answer
            return Outcome(
                status=Status.UNKNOWN,
                error_code="no_answer",
                error_message=f"{last}{_MAY_EXIST}",
                attempts=tries,
            )
        return Outcome(
            status=Status.FAILED,
            http_status=last.answer.http_status,
            error_code="retries_exhausted",
            error_message=(
                f"{self._vendor.name} answered {last.answer.http_status} {tries} times "
                f"({last.answer.error_message or 'no details'}); it was not applied: "
                "run again later with --resume"
            ),
            attempts=tries,
        )


_USER_AGENT = f"bulk-tasks/{__version__}"
#: request bodies as compact UTF-8 JSON, the encoder built once
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_MAY_EXIST = "; it may have been applied: check in the vendor's app before sending it again"


def _describe(error: httpx.TransportError) -> str:
    kinds: list[tuple[type[Exception], str]] = [
        (httpx.ConnectTimeout, "connecting timed out"),
        (httpx.ConnectError, "could not connect"),
        (httpx.PoolTimeout, "no connection was free in time"),
        (httpx.ReadTimeout, "no answer came back within the timeout (--timeout)"),
        (httpx.WriteTimeout, "sending the request timed out"),
        (httpx.RemoteProtocolError, "the connection closed before a whole answer came back"),
    ]
    what = next((text for kind, text in kinds if isinstance(error, kind)), "the connection failed")
    detail = str(error).strip()
    return f"{what} ({detail})" if detail else what


@dataclass
class Ended:
    """How sending ended: the stop that ended the run, the keys refused along the way."""

    stopped: StopRun | None = None
    #: lane -> the refusal that stopped that key's lines (the run went on with the others)
    refused: dict[Hashable, StopRun] = field(default_factory=dict)


class _Lane(Generic[L]):
    """One API key's share of a run: its sender (its own window and rate), packer, workers."""

    def __init__(self, sender: Sender, packer: Packer[L]) -> None:
        self.sender = sender
        self.packer = packer
        self.queue: asyncio.Queue[Packed[L] | None] = asyncio.Queue()
        self.idle = 0  # workers waiting for a request to send
        self.refused: StopRun | None = None

    def wants_due(self) -> bool:
        """A worker waits with nothing to send: a batch that has waited may go now."""
        return bool(self.idle) and self.queue.empty() and bool(self.packer.waiting)


async def run_jobs(
    lines: Iterable[L],
    *,
    ask_of: Callable[[L], Ask | None],
    open_lane: Callable[[Hashable], tuple[Sender, Packer[L]]],
    lane_of: Callable[[L], Hashable] = lambda _: "",
    creates: bool,
    on_outcome: Callable[[L, Outcome], None],
    stop: asyncio.Event,
    abort: asyncio.Event | None = None,
    before_send: Callable[[Sequence[L]], Awaitable[None]] | None = None,
    workers: int,
    read_ahead: int = 10_000,
    refusal_stops_run: bool = True,
) -> Ended:
    """Send every line, packed into requests; lines not sent, or met after a stop, are reported.

    Lines go by lane (one per API key): ``open_lane`` gives a lane's sender and packer when
    its first line comes, and each lane has ``workers`` workers of its own, so keys are sent
    in parallel, each under its own window. ``ask_of`` returns None for a line that is not
    to be sent (the caller reports it). ``stop`` ends the sending of new requests; ``abort``
    also gives up on the requests on their way (their lines become unknown). A key refused
    by the vendor stops its own lane only, unless ``refusal_stops_run``.

    Memory stays flat: the input is read at most ``read_ahead`` lines ahead of the requests
    the workers have taken, through packers that hold a bounded number of lines. A batch
    that has waited goes out unfilled only when one of its lane's workers has nothing to
    send: while the rate limit keeps every worker busy, waiting longer costs nothing and
    fills requests fuller.
    """
    ended = Ended()
    abort = abort or asyncio.Event()
    not_sent = Attempts().cut_short()
    lanes: dict[Hashable, _Lane[L]] = {}
    ahead = 0  # lines queued in lanes, not yet taken by a worker
    room = asyncio.Event()
    sending: set[asyncio.Task[Any]] = set()  # workers with a request on its way
    aborted: set[asyncio.Task[Any]] = set()  # ... that the abort cancelled

    async def give_up_on_sending() -> None:
        await abort.wait()
        for task in sending:
            aborted.add(task)
            task.cancel()

    async def send(
        lane: _Lane[L], job: Job, announce: Announce | None, attempts: Attempts
    ) -> list[Outcome] | None:
        """The lane's sender's outcomes, or None if ``abort`` came first (it is given up)."""
        if abort.is_set():
            return None
        me = asyncio.current_task()
        assert me is not None
        sending.add(me)
        try:
            return await lane.sender.send(job, announce=announce, attempts=attempts)
        except asyncio.CancelledError:
            if me in aborted:
                aborted.discard(me)
                if me.uncancel() == 0:  # the abort's doing, and nobody else's
                    return None
            raise
        finally:
            sending.discard(me)

    def report(lines: Iterable[L], outcomes: Iterable[Outcome]) -> None:
        for line, outcome in zip(lines, outcomes, strict=True):
            on_outcome(line, outcome)

    async def next_request(lane: _Lane[L]) -> Packed[L] | None:
        nonlocal ahead
        lane.idle += 1
        try:
            packed = await lane.queue.get()
        finally:
            lane.idle -= 1
        if packed is not None:
            ahead -= len(packed.lines)
            room.set()
        return packed

    async def worker(name: Hashable, lane: _Lane[L]) -> None:
        while (packed := await next_request(lane)) is not None:
            every = len(packed.lines)
            if stop.is_set():
                report(packed.lines, [not_sent] * every)
                continue
            if lane.refused:
                report(packed.lines, [lane.refused.outcome] * every)
                continue
            attempts = Attempts()
            announce = functools.partial(before_send, packed.lines) if before_send else None
            job = Job(packed.request, creates=creates)
            try:
                outcomes = await send(lane, job, announce, attempts)
            except StopRun as stop_run:
                if stop_run.key_only and not refusal_stops_run:
                    lane.refused = ended.refused.setdefault(name, stop_run)
                else:
                    ended.stopped = ended.stopped or stop_run
                    stop.set()
                outcomes = [stop_run.outcome] * every
            report(packed.lines, outcomes or [attempts.cut_short()] * every)

    async def dispatch(lane: _Lane[L], ready: list[Packed[L]]) -> None:
        nonlocal ahead
        for packed in ready:
            if stop.is_set():
                report(packed.lines, [not_sent] * len(packed.lines))
            elif lane.refused:
                report(packed.lines, [lane.refused.outcome] * len(packed.lines))
            else:
                ahead += len(packed.lines)
                lane.queue.put_nowait(packed)

    def lane_for(name: Hashable, group: asyncio.TaskGroup) -> _Lane[L]:
        lane = lanes.get(name)
        if lane is None:
            lane = lanes[name] = _Lane(*open_lane(name))
            for _ in range(workers):
                group.create_task(worker(name, lane))
        return lane

    watcher = asyncio.get_running_loop().create_task(give_up_on_sending())
    try:
        async with asyncio.TaskGroup() as group:
            for count, line in enumerate(lines):
                ask = ask_of(line)
                if ask is not None:
                    while ahead >= read_ahead:
                        room.clear()
                        await room.wait()
                    lane = lane_for(lane_of(line), group)
                    if stop.is_set():
                        on_outcome(line, not_sent)
                    elif lane.refused:
                        on_outcome(line, lane.refused.outcome)
                    else:
                        await dispatch(lane, lane.packer.add(line, ask))
                    if lane.wants_due():
                        await dispatch(lane, lane.packer.due())
                if count % 500 == 499:
                    for lane in lanes.values():
                        if lane.wants_due():
                            await dispatch(lane, lane.packer.due())
                    await asyncio.sleep(0)  # let the workers run while invalid rows stream by
            for lane in lanes.values():
                await dispatch(lane, lane.packer.drain())
                for _ in range(workers):
                    lane.queue.put_nowait(None)
    except ExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:  # a worker failed (a full disk, say): say just that
            raise group_error.exceptions[0] from None
        raise
    finally:
        watcher.cancel()
    return ended
