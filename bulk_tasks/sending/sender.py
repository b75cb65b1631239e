"""Sending one request for one API key: its rate window, its retries, its lines' outcomes.

A request may carry several lines (a Saleshandy task for many prospects): the window counts
requests, never lines, and the vendor's :class:`~bulk_tasks.vendors.base.Answer` gives an
:class:`~bulk_tasks.results.Outcome` per line.

The rate guarantee is about what the *server* sees:
:class:`~bulk_tasks.sending.window.ArrivalWindow` counts each request from when it is sent
until ``period`` after its answer came back, and nothing else paces the sends: a slot is
used the moment it frees. The window may be shared with other processes using the key
(:mod:`bulk_tasks.sending.sharing`); what the server says of the window (lemlist's
``X-RateLimit-Remaining``) is counted in it too.

Retries (``stamina``): a 429 waits what Retry-After says; a 5xx and a request that never
reached the vendor back off exponentially with jitter; a create that was sent but got no
answer is never sent again (it may exist), while an update (the same PATCH again) may be.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import httpx
import stamina

from ..results import INTERRUPTED, Facts, Outcome, Status
from ..vendors.base import Answer, Request, Vendor, Verdict
from ..version import __version__
from .traffic import Traffic
from .transport import ExchangeFailed, MaybeApplied, NothingSent, exchange
from .window import ArrivalWindow, Rate, RetryPolicy, WindowUnavailable


@dataclass(frozen=True)
class Delivery:
    """One request to send (carrying one or more lines), and whether sending it twice could
    make two tasks."""

    request: Request
    creates: bool


@dataclass
class Attempts:
    """How far one delivery got; what is left to say of it when a run is cut short."""

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


class StopRun(Exception):
    """No further row can succeed (the key was refused, or the vendor cannot be reached).

    ``outcome`` is what each line of the request that found it out becomes.
    """

    def __init__(self, outcome: Outcome, message: str, *, key_only: bool = False) -> None:
        super().__init__(message)
        self.outcome = outcome
        #: only the lines sent with this key are stopped (the vendor refused the key)
        self.key_only = key_only


class _Retry(Exception):
    """This attempt was not applied; another may be."""

    def __init__(self, answer: Answer | None, reason: str, *, reached: bool) -> None:
        super().__init__(reason)
        self.answer = answer
        #: the request reached the vendor (it answered, or may have applied it)
        self.reached = reached


class _NoAnswer(Exception):
    """A create was sent and no answer came back: the vendor may have applied it."""


class LookupFailed(Exception):
    """The vendor's task list could not be read; ``str()`` says why."""


class _LookupRetry(Exception):
    """A lookup that was not answered; asking again may be."""


class _Stopped(Exception):
    """The run is stopping: no new request goes out."""


#: called once, just before a delivery's first request goes out (the journal's "sending" marks)
Announce = Callable[[], None]


class Sender:
    """Sends deliveries for one API key under its arrival window, with retries.

    Once the vendor refuses the key, nothing more is sent with it: every later delivery ends in
    the same :class:`StopRun`. Each request, 429 answer and retry is counted in ``traffic``
    (the run's, shared by the senders of its keys).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        vendor: Vendor,
        key: str,
        base_url: str,
        rate: Rate,
        retry: RetryPolicy,
        stop: asyncio.Event | None = None,
        key_env: str | None = None,
        window: ArrivalWindow | None = None,
        read_window: ArrivalWindow | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        self._client = client
        self._traffic = traffic if traffic is not None else Traffic()
        self._vendor = vendor
        #: the variable the key came from, to name in messages (never the key itself)
        self._key_env = key_env or vendor.key_env
        self._refused: StopRun | None = None
        self._headers = httpx.Headers(
            {
                **vendor.auth_headers(key),
                "Content-Type": "application/json",
                "User-Agent": _USER_AGENT,
            }
        )
        self._base_url = base_url.rstrip("/")
        self._urls: dict[str, httpx.URL] = {}  # path -> whole URL, parsed once
        self._retry = retry
        self._stop = stop or asyncio.Event()
        #: the key's window: this process's alone unless a shared one is given
        self._window = window if window is not None else ArrivalWindow(rate)
        #: lookups count against the same window, unless the vendor counts reads apart
        if read_window is None and vendor.read_limit is not None:
            read_window = ArrivalWindow(Rate(*vendor.read_limit))
        self._read_window = read_window if read_window is not None else self._window
        #: what the server says of its window is compared with the slots our window counts,
        #: which hold every request the server still counts only when our period is at least
        #: the server's: with a shorter one (--rate 5/1 for lemlist's 20/2), our own earlier
        #: requests would be taken for another tool's
        self._listens = rate.period >= vendor.period
        self._unreachable_jobs = 0

    async def send(
        self,
        delivery: Delivery,
        *,
        announce: Announce | None = None,
        attempts: Attempts | None = None,
    ) -> list[Outcome]:
        """Send one delivery until it is done, refused, or retrying can no longer help.

        Returns an outcome per line the request carries, in the order of the vendor's
        subjects. ``announce`` is called once, just before the first request goes out.
        Once the run is stopping, no further request is sent.
        """
        subjects = self._vendor.subjects(delivery.request)
        attempts = attempts or Attempts()
        if self._refused is not None:  # not even a window slot for a key refused already
            raise StopRun(self._refused.outcome, str(self._refused), key_only=True)
        try:
            answer = await self._answer(delivery, attempts, announce)
        except _Retry as gave_up:
            outcome = self._gave_up(gave_up, attempts.tries)
        except _NoAnswer as lost:
            outcome = Outcome(
                status=Status.UNKNOWN,
                error_code="no_answer",
                error_message=str(lost),
                attempts=attempts.tries,
            )
        except _Stopped:
            outcome = attempts.cut_short()
        else:
            self._unreachable_jobs = 0
            return self._outcomes(answer, delivery, attempts.tries, subjects)
        return [outcome] * len(subjects)

    async def _answer(
        self, delivery: Delivery, attempts: Attempts, announce: Announce | None
    ) -> Answer:
        """The vendor's answer to ``delivery``, attempted again as the retry policy allows; the
        last :class:`_Retry` once it allows no more."""
        async for attempt in self._attempts(on=self._backoff):
            self._traffic.retries += attempt.num > 1
            with attempt:
                return await self._attempt(delivery, attempts, announce)
        raise AssertionError("stamina ends by returning or raising")  # pragma: no cover

    def _attempts(
        self, *, on: type[Exception] | Callable[[BaseException], bool | float]
    ) -> AsyncIterator[stamina.Attempt]:
        """The retry policy's attempts, backing off between them (``stamina``)."""
        return stamina.retry_context(
            on=on,
            attempts=self._retry.attempts,
            timeout=None,
            wait_initial=self._retry.wait_initial,
            wait_max=self._retry.wait_max,
            wait_jitter=self._retry.wait_jitter,
        )

    def _backoff(self, error: BaseException) -> bool | float:
        if not isinstance(error, _Retry):
            return False
        if error.answer is not None and error.answer.http_status == 429:
            return 0.0  # the window's pause does the waiting, for every sender at once
        return True

    async def _attempt(
        self, delivery: Delivery, attempts: Attempts, announce: Announce | None
    ) -> Answer:
        try:
            return await self._attempt_in_window(delivery, attempts, announce)
        except WindowUnavailable as error:  # nothing may be sent safely: the run stops
            raise StopRun(attempts.cut_short(), str(error)) from None

    async def _attempt_in_window(
        self, delivery: Delivery, attempts: Attempts, announce: Announce | None
    ) -> Answer:
        body = _JSON.encode(delivery.request.body).encode()
        async with self._window.slot() as slot:
            if self._stop.is_set():
                raise _Stopped
            if self._refused is not None:
                raise StopRun(self._refused.outcome, str(self._refused), key_only=True)
            if announce is not None and attempts.tries == 0:
                announce()
            attempts.tries += 1
            attempts.on_the_wire = True  # stays so if this task is cancelled mid-request
            try:
                response = await self._exchange(
                    delivery.request.method, self._url(delivery.request.path), body
                )
            except NothingSent as error:
                attempts.on_the_wire = False
                raise _Retry(None, str(error), reached=False) from None
            except MaybeApplied as error:
                attempts.on_the_wire, attempts.unanswered = False, True
                if delivery.creates:
                    raise _NoAnswer(f"{error}{_MAY_EXIST}") from None
                raise _Retry(None, str(error), reached=True) from None
            attempts.on_the_wire = False
            if self._listens:
                slot.server_used = self._vendor.rate_used(response.headers)
                slot.refused = response.status_code == 429
        answer = self._vendor.read(
            response.status_code, response.headers, response.content, sent=delivery.request
        )
        if answer.verdict is Verdict.RETRY:
            if answer.http_status == 429:
                await self._window.pause(self._retry_after(answer))
            raise _Retry(answer, answer.error_message, reached=True)
        return answer

    async def look(self, request: Request) -> object:
        """The JSON answer to a GET (a page of a vendor's task list), retried as any request
        that changes nothing may be; :class:`LookupFailed` when it cannot be had."""
        url = httpx.URL(self._base_url + request.path)
        try:
            async for attempt in self._attempts(on=_LookupRetry):
                self._traffic.retries += attempt.num > 1
                with attempt:
                    return await self._look_once(url)
        except _LookupRetry as last:
            raise LookupFailed(f"{last}, {self._retry.attempts} times") from None
        raise AssertionError("stamina ends by returning or raising")  # pragma: no cover

    async def _look_once(self, url: httpx.URL) -> object:
        try:
            response = await self._look_in_window(url)
        except WindowUnavailable as error:
            raise LookupFailed(str(error)) from None
        status = response.status_code
        if status == 200:
            try:
                return json.loads(response.content)
            except ValueError:
                raise LookupFailed(f"{self._vendor.name}'s task list was not JSON") from None
        text = response.text.strip()[:200] or f"HTTP {status}"
        if status == 429 or status >= 500:
            if status == 429:
                answer = self._vendor.read(status, response.headers, b"")
                await self._read_window.pause(self._retry_after(answer))
            raise _LookupRetry(f"{self._vendor.name} answered {status} ({text})")
        raise LookupFailed(f"{self._vendor.name} answered {status} to the lookup ({text})")

    async def _look_in_window(self, url: httpx.URL) -> httpx.Response:
        async with self._read_window.slot() as slot:
            if self._stop.is_set():
                raise LookupFailed("the run was stopped before the lookup")
            if self._refused is not None:
                raise LookupFailed(str(self._refused))
            try:
                response = await self._exchange("GET", url, b"")
            except ExchangeFailed as error:
                raise _LookupRetry(str(error)) from None
            if self._listens:
                slot.server_used = self._vendor.rate_used(response.headers)
                slot.refused = response.status_code == 429
        return response

    async def _exchange(self, method: str, url: httpx.URL, body: bytes) -> httpx.Response:
        """One request's answer (:func:`~bulk_tasks.sending.transport.exchange`), the request
        counted in the run's traffic once it has left, and its answer if a 429."""
        left = True
        try:
            response = await exchange(self._client, method, url, headers=self._headers, body=body)
        except NothingSent:
            left = False
            raise
        finally:
            self._traffic.requests += left
        self._traffic.rate_limited += response.status_code == 429
        return response

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self._base_url + path)
        return url

    def _retry_after(self, answer: Answer) -> float:
        wait = answer.retry_after if answer.retry_after is not None else 1.0
        return min(wait, self._retry.longest_retry_after)

    def _outcomes(
        self, answer: Answer, delivery: Delivery, tries: int, subjects: tuple[str, ...]
    ) -> list[Outcome]:
        """Each line's outcome from the vendor's answer, in the order of ``subjects``."""
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
            if answer.cells is not None:
                refused = refused.with_facts(Facts(said=answer.error_message, cells=answer.cells))
            return [refused] * len(subjects)
        done = Status.CREATED if delivery.creates else Status.UPDATED
        if answer.lines is None:  # the answer as a whole is every line's
            outcome = Outcome(
                status=done,
                remote_id=answer.remote_id,
                http_status=answer.http_status,
                error_message=answer.error_message,
                attempts=tries,
            )
            return [outcome] * len(subjects)
        return [
            replace(
                line,
                status=done if line.status is Status.CREATED else line.status,
                http_status=answer.http_status,
                attempts=tries,
            )
            for line, _ in zip(answer.lines, subjects, strict=True)
        ]

    def _key_message(self, answer: Answer) -> str:
        return (
            f"{self._vendor.name} refused the API key in {self._key_env} (HTTP "
            f"{answer.http_status}: {answer.error_message or 'no details'}): check "
            f"{self._key_env}, then run again with --resume"
        )

    def _gave_up(self, last: _Retry, tries: int) -> Outcome:
        if not last.reached:
            self._unreachable_jobs += 1
            outcome = Outcome(
                status=Status.NOT_SENT,
                error_code="unreachable",
                error_message=f"{last}; nothing was sent ({tries} tries)",
                attempts=tries,
            )
            if self._unreachable_jobs >= self._retry.connection_failures_to_stop:
                raise StopRun(outcome, f"cannot reach {self._vendor.name}: {last}")
            return outcome
        self._unreachable_jobs = 0
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
