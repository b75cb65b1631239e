"""The sandbox: a local HTTP emulator of the vendors' task APIs (lemlist for now).

``Sandbox`` is an ASGI app and the state it emulates; ``SandboxServer`` runs it with uvicorn
in a background thread (for tests, benchmarks, ``run --sandbox`` and ``bulk-tasks sandbox``).
Every request is kept in ``arrivals`` and every one that changed state in ``applied``, so
tests can assert what the vendor would have seen. ``Faults`` turn on what a real network
does: latency, 500s, spurious 429s, hangs and cut-off replies.

A vendor is a ``_Vendor`` value (path prefix, auth, rate-limit replies, routes) plus the
state its routes keep; adding one means writing those and listing it in ``_VENDORS``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import random
import re
import secrets
import socket
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from itertools import accumulate
from typing import Any

import uvicorn
import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send


@dataclass(frozen=True)
class Arrival:
    """A request as it reached the sandbox; ``status`` stays None unless fully answered."""

    key: str | None
    method: str
    path: str
    time: float  # time.monotonic() on arrival, before anything else
    status: int | None = None


@dataclass(frozen=True)
class Applied:
    """A request that changed the sandbox's state; ``time`` is monotonic, when applied."""

    method: str
    task_id: str
    body: dict[str, Any]
    key: str
    time: float


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Failures injected on create/update; at most one is drawn per request."""

    latency: tuple[float, float] = (0.0, 0.0)  # seconds, uniform, before answering
    p_error_500: float = 0.0  # answer 500, not applied
    p_spurious_429: float = 0.0  # answer 429 though the window is not full, not applied
    p_hang: float = 0.0  # apply, then never answer (for up to hang_seconds)
    p_drop: float = 0.0  # apply, then cut the reply off mid-body
    hang_seconds: float = 600.0
    seed: int = 0  # the same seed and request order give the same faults

    def __post_init__(self) -> None:
        odds = (self.p_error_500, self.p_spurious_429, self.p_hang, self.p_drop)
        if min(odds) < 0 or sum(odds) > 1:
            raise ValueError(f"fault probabilities must be >= 0 and sum to <= 1, not {odds}")
        if not 0 <= self.latency[0] <= self.latency[1]:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high: {self.latency}")

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request: "500", "429", "hang", "drop" or None."""
        roll = rng.random()
        odds = (self.p_error_500, self.p_spurious_429, self.p_hang, self.p_drop)
        edges = zip(("500", "429", "hang", "drop"), accumulate(odds), strict=True)
        return next((fault for fault, edge in edges if roll < edge), None)


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
class _Rate:
    """One key's sliding window as one request found it."""

    limit: int
    full: bool  # `limit` arrivals were in the window already: answer 429
    remaining: int
    wait: float  # seconds until the oldest arrival in the window leaves it


@dataclass(frozen=True)
class _Vendor:
    """What differs between vendors around their routes."""

    name: str
    prefix: str
    key_of: Callable[[Headers], str | None]  # None: no readable key
    unauthorized: Callable[[], Response]
    too_many: Callable[[_Rate], Response]
    rate_headers: Callable[[_Rate], dict[str, str]]
    routes: Callable[[Sandbox], list[Route]]


# A vendor's create/update: (method, parsed body or None) -> (reply, id of the changed task).
_Apply = Callable[[str, Any], tuple[Response, str | None]]


class Sandbox:
    """The ASGI app: auth, per-key sliding-window rate limit, faults, then the vendor routes."""

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = None,
        limit: int = 20,
        period: float = 2.0,
        faults: Faults | None = None,
        demo_tasks: bool = True,
    ) -> None:
        self.keys = None if keys is None else frozenset(keys)  # None: any non-empty key
        self.limit, self.period = limit, period
        self.faults = faults or Faults()
        self.demo_tasks = demo_tasks
        self.closing = threading.Event()  # set at shutdown, to end deliberate hangs
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()  # the server's loop writes, other threads read
        self._arrivals: list[Arrival] = []
        self._applied: list[Applied] = []
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._app = Starlette(routes=[r for vendor in _VENDORS for r in vendor.routes(self)])

    @property
    def arrivals(self) -> list[Arrival]:
        return self.snapshot_arrivals()

    @property
    def applied(self) -> list[Applied]:
        return self.snapshot_applied()

    def snapshot_arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def snapshot_applied(self) -> list[Applied]:
        with self._lock:
            return list(self._applied)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and nothing else is served
        arrived = time.monotonic()  # first, so that latency and auth cannot skew the window
        vendor = next((v for v in _VENDORS if scope["path"].startswith(v.prefix + "/")), None)
        key = vendor.key_of(Headers(scope=scope)) if vendor else None
        index, rate = self._arrive(vendor, key, scope, arrived)
        send = self._recording_status(index, send)
        if vendor is None:
            await PlainTextResponse("Not Found", 404)(scope, receive, send)
        elif key is None or rate is None or (self.keys is not None and key not in self.keys):
            await vendor.unauthorized()(scope, receive, send)
        else:
            send = _with_headers(send, vendor.rate_headers(rate))
            scope.setdefault("state", {}).update(key=key, rate=rate, vendor=vendor)
            app = vendor.too_many(rate) if rate.full else self._app
            await app(scope, receive, send)

    def _arrive(
        self, vendor: _Vendor | None, key: str | None, scope: Scope, now: float
    ) -> tuple[int, _Rate | None]:
        """Record an arrival and, when the key is readable, count it in that key's window."""
        with self._lock:
            self._arrivals.append(Arrival(key, scope["method"], scope["path"], now))
            if vendor is None or key is None:
                return len(self._arrivals) - 1, None
            window = self._windows.setdefault((vendor.name, key), deque())
            while window and now - window[0] > self.period:  # closed, as in max_in_window
                window.popleft()
            full = len(window) >= self.limit
            window.append(now)  # refused arrivals count too: the strictest reading
            remaining, wait = max(0, self.limit - len(window)), window[0] + self.period - now
            return len(self._arrivals) - 1, _Rate(self.limit, full, remaining, wait)

    def _recording_status(self, index: int, send: Send) -> Send:
        """Wrap ``send`` to note the status once the reply is complete (never, if cut off)."""
        started: list[int] = []

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                with self._lock:  # before sending, so a client never sees the reply first
                    self._arrivals[index] = replace(self._arrivals[index], status=started[0])
            await send(message)

        return send_and_record

    async def _write(self, request: Request, apply: _Apply) -> Response | _CutShort:
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
        with self._lock:
            reply, changed = apply(request.method, body)
            if changed is not None:
                record = Applied(request.method, changed, body, request.state.key, time.monotonic())
                self._applied.append(record)
        if fault is None:
            return reply
        # Hang and drop come after applying: the task exists, the client cannot know it.
        return _CutShort(reply, self.faults.hang_seconds if fault == "hang" else 0.0, self)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers


@dataclass(frozen=True)
class _CutShort:
    """A reply the client never receives whole: after an optional hang, half its body."""

    reply: Response
    hang: float
    sandbox: Sandbox

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
        # Returning mid-body makes uvicorn close the connection; _QuietCutShort hides its log.


# --- lemlist --------------------------------------------------------------------------------


def _demo_task(number: int, kind: str, title: str) -> dict[str, Any]:
    return {
        "_id": f"opp_DemoTask{number:09d}",  # "opp_" + 17 characters, as real task ids
        "type": kind,
        "title": title,
        "priority": 1,
        "leadId": f"lea_DemoLead{number:09d}",
        "dueDate": "2030-01-15T09:00:00.000Z",
        "userId": "usr_7YzNqVRMCfdeHEzMn",
        "content": f"Demo task {number}",
        "status": "pending",
        "createdAt": "2025-01-02T09:00:00.000Z",
    }


# Tasks every fresh sandbox has, so that a demo update file works without creating first.
DEMO_TASKS: tuple[dict[str, Any], ...] = (
    _demo_task(1, "phone", "Call about the renewal"),
    _demo_task(2, "manual", "Check the signed contract"),
    _demo_task(3, "email", "Send the case study"),
    _demo_task(4, "phone", "Book the onboarding call"),
    _demo_task(5, "linkedin", "Congratulate on the new role"),
    _demo_task(6, "linkedin", "Share the product video"),
)


def _lemlist_key(headers: Headers) -> str | None:
    """The key from ``Authorization: Basic base64(":" + key)``; None unless exactly that."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, key = decoded.partition(":")
    return key if scheme.lower() == "basic" and colon and not user and key else None


def _lemlist_rate_headers(rate: _Rate) -> dict[str, str]:
    # A date as JavaScript's Date.toString() prints it (in UTC), not epoch seconds: lemlist's.
    reset = datetime.now(UTC) + timedelta(seconds=max(rate.wait, 0.0))
    return {
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Reset": reset.strftime(
            "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)"
        ),
    }


def _lemlist_too_many(rate: _Rate) -> Response:
    retry_after = max(1, math.ceil(rate.wait))
    return PlainTextResponse("Too many requests", 429, headers={"Retry-After": str(retry_after)})


@cache
def _lemlist_validator(method: str) -> Any:
    """The seed's own request schema for ``method`` ("POST"/"PATCH"), read once."""
    seed = {"POST": "000_f2ddb60476e7259c.txt", "PATCH": "001_6318b73674d7bc90.txt"}[method]
    text = (files("bulk_tasks") / "seeds" / seed).read_text(encoding="utf-8")
    block = re.search(r"^````yaml[^\n]*\n(.*?)^````", text, re.DOTALL | re.MULTILINE)
    if block is None:
        raise RuntimeError(f"seed {seed} has no ````yaml block")
    operation = yaml.safe_load(block.group(1))["paths"]["/tasks"][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if method == "POST":
        # Deviation: the seed lists property recordId but requires leadId, and its example
        # sends leadId (see PRODUCT.md). Accept either one, and require one of them.
        schema["required"] = [name for name in schema["required"] if name != "leadId"]
        schema["properties"]["leadId"] = {"type": "string"}
        schema["anyOf"] = [{"required": ["recordId"]}, {"required": ["leadId"]}]
    # date-time and uri are checked by the packages of jsonschema's format-nongpl extra
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def _lemlist_problem(method: str, body: Any) -> str | None:
    """Why ``body`` is not a valid request, in a few words; None when it is."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    error = best_match(_lemlist_validator(method).iter_errors(body))
    if error is None:
        return None
    if error.validator == "anyOf":
        return "recordId or leadId is required"
    where = ".".join(str(part) for part in error.absolute_path)
    return (f"{where}: {error.message}" if where else str(error.message))[:200]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _priority(value: str) -> int | str:
    return int(value) if value else ""  # lemlist answers with a number, or "" for none


class _LemlistTasks:
    """lemlist's tasks: what POST/PATCH/GET /api/tasks read and change (no HTTP here)."""

    def __init__(self, *, demo: bool) -> None:
        self.tasks = {task["_id"]: dict(task) for task in DEMO_TASKS} if demo else {}

    def pending(self) -> list[dict[str, Any]]:
        return [task for task in self.tasks.values() if task["status"] == "pending"]

    def apply(self, method: str, body: Any) -> tuple[Response, str | None]:
        problem = _lemlist_problem(method, body)
        if problem is not None:
            return PlainTextResponse(f"Bad params: {problem}", 400), None
        task = self._create(body) if method == "POST" else self.tasks.get(body["id"])
        if task is None:
            return PlainTextResponse("Task not found", 404), None
        if method == "PATCH":
            if ("images" in body or "videos" in body) and task["type"] != "linkedin":
                return JSONResponse({"error": "LINKEDIN_MEDIA_INVALID_TYPE"}, 400), None
            self._update(task, body)
        return JSONResponse(task), task["_id"]

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        task: dict[str, Any] = {"_id": self._new_id(), "type": body["type"]}
        task["title"] = body.get("title", "")
        if "priority" in body:
            task["priority"] = _priority(body["priority"])
        task["leadId"] = body.get("recordId", body.get("leadId"))
        task |= {"dueDate": body["dueDate"], "userId": body["assignedTo"]}
        task |= {"content": body.get("message", ""), "status": "pending", "createdAt": _now_iso()}
        if body["type"] == "linkedin":  # lemlist ignores media on the other types
            task |= {name: body[name] for name in ("images", "videos") if name in body}
        self.tasks[task["_id"]] = task
        return task

    def _update(self, task: dict[str, Any], body: dict[str, Any]) -> None:
        renamed = {"assignedTo": "userId", "message": "content"}
        for name in ("assignedTo", "dueDate", "title", "message", "images", "videos"):
            if name in body:
                task[renamed.get(name, name)] = body[name]
        if "priority" in body:
            task["priority"] = _priority(body["priority"])
        if body.get("done") is True:
            task |= {"status": "completed", "completedAt": _now_iso()}
        elif body.get("done") is False:
            task["status"] = "pending"
            task.pop("completedAt", None)

    def _new_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while (
            task_id := "opp_" + "".join(secrets.choice(alphabet) for _ in range(17))
        ) in self.tasks:
            pass
        return task_id


def _lemlist_routes(sandbox: Sandbox) -> list[Route]:
    store = _LemlistTasks(demo=sandbox.demo_tasks)

    async def write(request: Request) -> Response | _CutShort:
        return await sandbox._write(request, store.apply)

    async def list_pending(request: Request) -> Response:
        with sandbox._lock:
            return JSONResponse(store.pending())

    return [
        Route("/api/tasks", write, methods=["POST", "PATCH"]),
        Route("/api/tasks", list_pending, methods=["GET"]),
    ]


_VENDORS: tuple[_Vendor, ...] = (
    _Vendor(
        name="lemlist",
        prefix="/api",
        key_of=_lemlist_key,
        unauthorized=lambda: PlainTextResponse("The authentication you supplied is incorrect", 401),
        too_many=_lemlist_too_many,
        rate_headers=_lemlist_rate_headers,
        routes=_lemlist_routes,
    ),
)

# --- running it -----------------------------------------------------------------------------


class _QuietCutShort(logging.Filter):
    """Drops uvicorn's complaint about the replies the sandbox cuts off on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("ASGI callable returned without completing")


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that also ends the sandbox's deliberate hangs when told to exit."""

    def __init__(self, sandbox: Sandbox, *, log_config: dict[str, Any] | None) -> None:
        config = uvicorn.Config(sandbox, lifespan="off", log_level="warning", log_config=log_config)
        config.timeout_graceful_shutdown = 1  # hangs end at once; this only bounds the rest
        super().__init__(config)
        self.sandbox = sandbox
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietCutShort) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(_QuietCutShort())

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.sandbox.closing.set()
        super().handle_exit(sig, frame)


def _bind(port: int) -> socket.socket:
    """A socket on 127.0.0.1 only, never all interfaces; port 0 picks a free one."""
    # IPPROTO_TCP said explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it each reply (headers, then body) waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class SandboxServer:
    """Runs a ``Sandbox`` in a daemon thread: ``with SandboxServer() as server: server.url``."""

    def __init__(self, sandbox: Sandbox | None = None, *, port: int = 0) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox()
        self._sock = _bind(port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # No log_config: the host process (pytest, a benchmark) keeps its own logging setup.
        self._server = _Uvicorn(self.sandbox, log_config=None)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="sandbox"
        )

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.sandbox.closing.clear()
        self._thread.start()
        deadline = time.monotonic() + 5.0
        while not self._server.started:  # set once uvicorn listens on the socket
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.005)

    def stop(self) -> None:
        self.sandbox.closing.set()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._sock.close()
