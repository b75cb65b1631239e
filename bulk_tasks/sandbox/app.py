"""What every emulated vendor shares: the ASGI app, per-key rate windows, faults, recording.

``App`` serves the vendors it is given (see :mod:`bulk_tasks.sandbox` for the registry):
it records every request in ``arrivals`` before anything else, finds the vendor by path,
checks the key, counts the request in that key's sliding window (429 when full), then
hands it to the vendor's routes. A route that creates or changes something calls
:meth:`App.write`, which draws the fault and latency, applies the vendor's own change and
records it in ``applied``, so tests can assert what the vendor would have done. ``Faults``
turn on what a real network does: latency, 500s, spurious 429s, hangs and cut-off replies,
and another tool's traffic on every key (``foreign``); and when the rate headers count the
key's window (``remaining_at``: as the request is admitted, or as its answer starts).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib.resources import files
from itertools import accumulate
from typing import Any, Literal

from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send


@dataclass(frozen=True)
class Arrival:
    """A request as it reached the sandbox; ``status`` and ``answered`` stay None unless it
    was fully answered."""

    key: str | None
    method: str
    path: str
    time: float  # time.monotonic() on arrival, before anything else
    status: int | None = None
    answered: float | None = None  # time.monotonic() once its answer was complete


@dataclass(frozen=True)
class Applied:
    """A task the sandbox created or changed; ``time`` is monotonic, when applied.

    ``body`` is the whole request's; ``subject`` is the one it was applied for when a
    request can carry several (a Saleshandy prospect id), else "".
    """

    method: str
    task_id: str
    body: dict[str, Any]
    key: str
    time: float
    vendor: str
    subject: str = ""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Failures injected on create/update; at most one is drawn per request."""

    latency: tuple[float, float] = (0.0, 0.0)  # seconds, uniform, before answering
    p_error_500: float = 0.0  # answer 500, not applied
    p_spurious_429: float = 0.0  # answer 429 though the window is not full, not applied
    p_hang: float = 0.0  # apply, then never answer (for up to hang_seconds)
    p_drop: float = 0.0  # apply, then cut the reply off mid-body
    p_lose: float = 0.0  # cut the connection before applying: the request never lands
    hang_seconds: float = 600.0
    seed: int = 0  # the same seed and request order give the same faults
    #: requests per rate window on every key that another tool sends, evenly spaced from
    #: the sandbox's start: they count in the window (X-RateLimit-Remaining, 429s)
    foreign: int = 0
    #: when the rate headers (X-RateLimit-Remaining, ...) count the key's window: as the
    #: request is admitted, or as its answer starts (requests admitted while it waited
    #: count then). Either way, whether a request is refused is decided at admission.
    remaining_at: Literal["admission", "answer"] = "admission"

    def __post_init__(self) -> None:
        if self.remaining_at not in ("admission", "answer"):
            raise ValueError(
                f'remaining_at must be "admission" or "answer", not "{self.remaining_at}"'
            )
        if self.foreign < 0:
            raise ValueError(f"foreign requests per window must be >= 0, not {self.foreign}")
        odds = self._odds()
        if min(odds) < 0 or sum(odds) > 1:
            raise ValueError(f"fault probabilities must be >= 0 and sum to <= 1, not {odds}")
        if not 0 <= self.latency[0] <= self.latency[1]:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high: {self.latency}")

    def _odds(self) -> tuple[float, ...]:
        return (self.p_error_500, self.p_spurious_429, self.p_hang, self.p_drop, self.p_lose)

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request: "500", "429", "hang", "drop", "lose" or None."""
        roll = rng.random()
        edges = zip(("500", "429", "hang", "drop", "lose"), accumulate(self._odds()), strict=True)
        return next((fault for fault, edge in edges if roll < edge), None)


@functools.cache
def request_validator(name: str) -> Validator:
    """A validator of the request schema ``schemas/NAME.json``, formats checked: the schemas
    are derived from the vendors' pages (see the repository's ``tools/derive_schemas.py``)."""
    text = (files(__package__) / "schemas" / f"{name}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    kind = validator_for(schema)
    # date-time and uri are checked by the packages of jsonschema's format-nongpl extra
    return kind(schema, format_checker=kind.FORMAT_CHECKER)


def max_in_window(times: Sequence[float], period: float) -> int:
    """The most of ``times`` in any closed window of length ``period`` (both ends count)."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > period:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass(frozen=True)
class RateState:
    """One key's sliding window as one request found it."""

    limit: int
    full: bool  # `limit` arrivals were in the window already: answer 429
    remaining: int
    wait: float  # seconds until the oldest arrival in the window leaves it


@dataclass(frozen=True, kw_only=True)
class Emulated:
    """One emulated vendor: what differs between vendors around their routes."""

    name: str
    prefix: str  # every path of the vendor starts with it, e.g. "/api"
    #: the vendor's rate limit: `limit` requests per sliding `period` seconds per key
    limit: int
    period: float
    key_of: Callable[[Headers], str | None]  # None: no readable key
    unauthorized: Callable[[], Response]
    too_many: Callable[[RateState], Response]
    rate_headers: Callable[[RateState], dict[str, str]]
    routes: Callable[[App], list[Route]]
    #: reads' own limit (`limit` GETs per `period` seconds per key); None: one window for all
    read_limit: tuple[int, float] | None = None


@dataclass(frozen=True)
class Change:
    """A task a request created or changed, and who it was for (see :class:`Applied`)."""

    task_id: str
    subject: str = ""


# A vendor's create/update: (method, parsed body or None) -> (reply, what it changed).
Apply = Callable[[str, Any], tuple[Response, Sequence[Change]]]


class App:
    """The ASGI app: auth, per-key sliding-window rate limit, faults, then the vendor routes.

    ``limit`` and ``period``, when given, replace every vendor's own rate limit.
    """

    def __init__(
        self,
        vendors: Iterable[Emulated],
        *,
        keys: Iterable[str] | None = None,
        limit: int | None = None,
        period: float | None = None,
        faults: Faults | None = None,
        demo_tasks: bool = True,
    ) -> None:
        self.vendors = tuple(vendors)
        self.keys = None if keys is None else frozenset(keys)  # None: any non-empty key
        self.limit, self.period = limit, period
        self.faults = faults or Faults()
        self.demo_tasks = demo_tasks  # lemlist's demo tasks, which the update sample changes
        self.closing = threading.Event()  # set at shutdown, to end deliberate hangs
        self.lock = threading.Lock()  # the server's loop writes, other threads read
        self._rng = random.Random(self.faults.seed)
        self._arrivals: list[Arrival] = []
        self._applied: list[Applied] = []
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self.started = time.monotonic()  # another tool's traffic (faults.foreign) from here
        self._app = Starlette(routes=[r for vendor in self.vendors for r in vendor.routes(self)])

    def rate_of(self, vendor: Emulated) -> tuple[int, float]:
        return self.limit or vendor.limit, self.period or vendor.period

    @property
    def arrivals(self) -> list[Arrival]:
        return self.snapshot_arrivals()

    @property
    def applied(self) -> list[Applied]:
        return self.snapshot_applied()

    def snapshot_arrivals(self) -> list[Arrival]:
        with self.lock:
            return list(self._arrivals)

    def snapshot_applied(self) -> list[Applied]:
        with self.lock:
            return list(self._applied)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and nothing else is served
        arrived = time.monotonic()  # first, so that latency and auth cannot skew the window
        path = scope["path"]
        vendor = next((v for v in self.vendors if path.startswith(v.prefix + "/")), None)
        key = vendor.key_of(Headers(scope=scope)) if vendor else None
        index, rate = self._arrive(vendor, key, scope, arrived)
        send = self._recording_status(index, send)
        if vendor is None:
            await PlainTextResponse("Not Found", 404)(scope, receive, send)
        elif key is None or rate is None or (self.keys is not None and key not in self.keys):
            await vendor.unauthorized()(scope, receive, send)
        else:
            send = self._with_rate_headers(send, vendor, key, scope["method"], rate)
            scope.setdefault("state", {}).update(key=key, rate=rate, vendor=vendor)
            app = vendor.too_many(rate) if rate.full else self._app
            await app(scope, receive, send)

    def _arrive(
        self, vendor: Emulated | None, key: str | None, scope: Scope, now: float
    ) -> tuple[int, RateState | None]:
        """Record an arrival and, when the key is readable, count it in that key's window."""
        with self.lock:
            self._arrivals.append(Arrival(key, scope["method"], scope["path"], now))
            if vendor is None or key is None:
                return len(self._arrivals) - 1, None
            rate = self._count(vendor, key, scope["method"], now, arriving=True)
            return len(self._arrivals) - 1, rate

    def _count(
        self, vendor: Emulated, key: str, method: str, now: float, *, arriving: bool
    ) -> RateState:
        """The key's window at ``now``; ``arriving``: with a request arriving now counted in
        it. The caller holds ``lock``."""
        limit, period = self.rate_of(vendor)
        kind = "write"
        if vendor.read_limit is not None and method == "GET":
            (limit, period), kind = vendor.read_limit, "read"
        window = self._windows.setdefault((vendor.name, key, kind), deque())
        while window and now - window[0] > period:  # closed, as in max_in_window
            window.popleft()
        # another tool's traffic is writes: it counts where the vendor counts them
        foreign = self.foreign_arrivals(now - period, now, period) if kind == "write" else []
        full = len(window) + len(foreign) >= limit
        if arriving:
            window.append(now)  # refused arrivals count too: the strictest reading
        remaining = max(0, limit - len(window) - len(foreign))
        oldest = min([*itertools.islice(window, 1), *foreign[:1]], default=now - period)
        return RateState(limit, full, remaining, oldest + period - now)

    def _with_rate_headers(
        self, send: Send, vendor: Emulated, key: str, method: str, admitted: RateState
    ) -> Send:
        """Wrap ``send`` to add the vendor's rate headers to the reply: the key's window as
        the request was admitted, or as the reply starts (``faults.remaining_at``)."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                rate = admitted
                if self.faults.remaining_at == "answer":
                    with self.lock:
                        rate = self._count(vendor, key, method, time.monotonic(), arriving=False)
                headers = vendor.rate_headers(rate).items()
                extra = [(name.lower().encode(), value.encode()) for name, value in headers]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers

    def foreign_arrivals(self, since: float, until: float, period: float) -> list[float]:
        """When another tool's requests (``faults.foreign`` per ``period``) reached every
        key, in (``since``, ``until``]: evenly spaced from the sandbox's start."""
        if not self.faults.foreign:
            return []
        step = period / self.faults.foreign
        first = max(0, math.floor((since - self.started) / step) + 1)
        last = math.floor((until - self.started) / step)
        return [self.started + n * step for n in range(first, last + 1)]

    def _recording_status(self, index: int, send: Send) -> Send:
        """Wrap ``send`` to note the status and the time once the reply is complete (never, if
        cut off)."""
        started: list[int] = []

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                with self.lock:  # before sending, so a client never sees the reply first
                    arrival, answered = self._arrivals[index], time.monotonic()
                    self._arrivals[index] = replace(arrival, status=started[0], answered=answered)
            await send(message)

        return send_and_record

    async def write(self, request: Request, apply: Apply) -> Response | CutShort:
        """Create/update: the drawn fault and latency around the vendor's own ``apply``."""
        fault = self.faults.draw(self._rng)
        low, high = self.faults.latency
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high))
        if fault == "500":
            return PlainTextResponse("Internal Server Error", 500)
        if fault == "429":
            return request.state.vendor.too_many(request.state.rate)  # type: ignore[no-any-return]
        try:
            body = json.loads(await request.body())
        except ClientDisconnect:  # the client went away before its whole body came
            return Response(status_code=400)  # nothing applied; nobody left to read this
        except ValueError:
            body = None  # the vendor's validation refuses it
        if fault == "lose":  # cut off before anything is applied: the client cannot know
            # The body is read first, even so: a connection closed with bytes unread is
            # reset, and the client would see a reset instead of a reply cut off.
            return CutShort(PlainTextResponse("lost", 502), 0.0, self)
        vendor, key = request.state.vendor.name, request.state.key
        with self.lock:
            reply, changes = apply(request.method, body)
            now = time.monotonic()
            self._applied.extend(
                Applied(request.method, change.task_id, body, key, now, vendor, change.subject)
                for change in changes
            )
        if fault is None:
            return reply
        # Hang and drop come after applying: the task exists, the client cannot know it.
        return CutShort(reply, self.faults.hang_seconds if fault == "hang" else 0.0, self)


def writes(app: App, path: str, apply: Apply, *, methods: Sequence[str] = ("POST",)) -> Route:
    """A route whose requests create or change tasks: ``apply`` under ``app.write``."""

    async def endpoint(request: Request) -> Response | CutShort:
        return await app.write(request, apply)

    return Route(path, endpoint, methods=list(methods))


@dataclass(frozen=True)
class CutShort:
    """A reply the client never receives whole: after an optional hang, half its body."""

    reply: Response
    hang: float
    sandbox: App

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = time.monotonic() + self.hang
        while time.monotonic() < deadline and not self.sandbox.closing.is_set():
            await asyncio.sleep(0.05)  # polled, so that shutdown ends a hang at once
        reply, body = self.reply, self.reply.body
        start = {"status": reply.status_code, "headers": reply.raw_headers}  # full length
        await send({"type": "http.response.start", **start})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        # Returning mid-body makes uvicorn close the connection; the server hides its log.
