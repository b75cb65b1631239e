from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Literal

import httpx
import pytest
from helpers import KEY, bulk_tasks, in_virtual_time

from bulk_tasks.errors import OptionError
from bulk_tasks.results import Outcome, Status
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer
from bulk_tasks.sending.packing import Packer
from bulk_tasks.sending.scheduler import Ended, Lane, SendingRun
from bulk_tasks.sending.sender import Delivery, Sender
from bulk_tasks.sending.transport import open_client
from bulk_tasks.sending.window import ArrivalWindow, Rate, RetryPolicy
from bulk_tasks.vendors.base import Ask, Request
from bulk_tasks.vendors.lemlist import LEMLIST
from bulk_tasks.vendors.saleshandy import SALESHANDY

FAST = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
CREATE = Delivery(Request("POST", "/api/tasks", {"recordId": "lea_x"}), creates=True)
UPDATE = Delivery(Request("PATCH", "/api/tasks", {"id": "opp_x", "done": True}), creates=False)
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, arrival in enumerate(times):
        while arrival - times[start] > period:
            start += 1
        best = max(best, end - start + 1)
    return best


LEMLIST_RATE = Rate(20, 2.0)


def sender(handler: Handler, *, rate: Rate = LEMLIST_RATE, retry: RetryPolicy = FAST) -> Sender:
    return Sender(
        client=open_client(connections=4, timeout=5, transport=httpx.MockTransport(handler)),
        vendor=LEMLIST,
        key="k",
        base_url="https://api.test",
        rate=rate,
        retry=retry,
    )


def scripted(*steps: int | type[Exception], headers: dict[str, str] | None = None) -> Handler:
    """Answers with the given statuses (or raises the given errors) in turn, then 200."""
    queue = list(steps)

    async def handle(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if queue else 200
        if isinstance(step, type):
            raise step("scripted", request=request)
        body = {"_id": "opp_AAAAAAAAAAAAAAAAA"} if step == 200 else None
        return httpx.Response(step, json=body, headers=headers or {})

    return handle


# --- rate parsing ----------------------------------------------------------------------------


def test_rate_parses_requests_per_seconds() -> None:
    assert Rate.parse("20/2") == Rate(20, 2.0)
    assert Rate.parse(" 10 / 2.5 ") == Rate(10, 2.5)


@pytest.mark.parametrize("text", ["20", "0/2", "20/0", "fast", "20/-1"])
def test_rate_rejects_nonsense(text: str) -> None:
    with pytest.raises(OptionError, match="write requests/seconds"):
        Rate.parse(text)


# --- the arrival guarantee -------------------------------------------------------------------


async def arrivals_through(
    gate: Callable[[], contextlib.AbstractAsyncContextManager[None]], *, rows: int
) -> list[float]:
    """Send through a gate to a 'server' whose requests take uneven time to arrive and answer.

    Each request is delayed 0-60 ms before it is counted, like a new connection or a busy
    event loop, and answered 0-40 ms later. The arrival times are what the server counts.
    """
    loop = asyncio.get_running_loop()
    chance = random.Random(7)
    arrivals: list[float] = []

    async def one() -> None:
        async with gate():
            await asyncio.sleep(chance.uniform(0, 0.06))
            arrivals.append(loop.time())
            await asyncio.sleep(chance.uniform(0, 0.04))

    await asyncio.gather(*(one() for _ in range(rows)))
    return arrivals


def test_the_window_keeps_arrivals_under_the_limit_despite_uneven_delays() -> None:
    rate = Rate(20, 2.0)  # lemlist's, over ten windows: time is the loop's, moved, not slept

    async def arrivals() -> list[float]:
        window = ArrivalWindow(rate)

        @contextlib.asynccontextmanager
        async def gate() -> AsyncIterator[None]:
            async with window.slot():  # held from send to answer, as Sender does
                yield

        return await arrivals_through(gate, rows=200)

    times = in_virtual_time(arrivals())
    assert len(times) == 200
    assert max_in_window(times, rate.period) == rate.limit  # full windows, never more


def test_a_429_pauses_every_sender() -> None:
    async def waited() -> float:
        window = ArrivalWindow(Rate(100, 1.0))
        loop = asyncio.get_running_loop()
        await window.pause(0.2)
        started = loop.time()
        async with window.slot():
            return loop.time() - started

    assert 0.2 <= in_virtual_time(waited()) < 0.21


def test_slots_free_only_a_period_after_the_answer() -> None:
    rate = Rate(2, 0.2)

    async def third_after_first_answer() -> float:
        window = ArrivalWindow(rate, margin=0.0)
        loop = asyncio.get_running_loop()
        answered: list[float] = []
        for _ in range(2):
            async with window.slot():
                await asyncio.sleep(0.05)
            answered.append(loop.time())
        async with window.slot():
            return loop.time() - answered[0]

    assert rate.period <= in_virtual_time(third_after_first_answer()) < rate.period + 0.01


# --- retries ---------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds() -> None:
    async def send_once() -> tuple[Outcome, float]:
        send = sender(scripted(429, headers={"Retry-After": "0.2"}))
        loop = asyncio.get_running_loop()
        started = loop.time()
        [outcome] = await send.send(CREATE)
        return outcome, loop.time() - started

    outcome, waited = in_virtual_time(send_once())
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 2)
    assert outcome.remote_id == "opp_AAAAAAAAAAAAAAAAA"
    assert waited >= 0.2


async def test_server_errors_are_retried_with_backoff() -> None:
    [outcome] = await sender(scripted(500, 503, 502)).send(CREATE)
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 4)


async def test_retries_are_bounded() -> None:
    [outcome] = await sender(scripted(503, 503, 503, 503, 503)).send(CREATE)
    assert (outcome.status, outcome.error_code, outcome.attempts) == (
        Status.FAILED,
        "retries_exhausted",
        4,
    )
    assert outcome.http_status == 503
    assert "run again later with --resume" in outcome.error_message


async def test_a_create_sent_without_answer_is_unknown_and_not_sent_again() -> None:
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    [outcome] = await sender(handle).send(CREATE)
    assert (outcome.status, outcome.error_code, outcome.attempts) == (
        Status.UNKNOWN,
        "no_answer",
        1,
    )
    assert seen == ["POST"]
    assert "may have been applied" in outcome.error_message


async def test_a_create_cut_mid_answer_is_unknown() -> None:
    [outcome] = await sender(scripted(httpx.RemoteProtocolError)).send(CREATE)
    assert (outcome.status, outcome.attempts) == (Status.UNKNOWN, 1)


async def test_an_update_without_answer_is_sent_again() -> None:
    [outcome] = await sender(scripted(httpx.ReadTimeout, httpx.RemoteProtocolError)).send(UPDATE)
    assert (outcome.status, outcome.attempts) == (Status.UPDATED, 3)


async def test_an_update_that_never_gets_an_answer_is_unknown() -> None:
    steps = [httpx.ReadTimeout] * 4
    [outcome] = await sender(scripted(*steps)).send(UPDATE)
    assert (outcome.status, outcome.attempts) == (Status.UNKNOWN, 4)


async def test_failing_to_connect_is_retried_as_nothing_was_sent() -> None:
    [outcome] = await sender(scripted(httpx.ConnectError, httpx.ConnectTimeout)).send(CREATE)
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 3)


async def test_vendor_refusals_are_not_retried() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="Bad params")

    [outcome] = await sender(handle).send(CREATE)
    assert (outcome.status, outcome.http_status, outcome.attempts) == (Status.FAILED, 400, 1)
    assert outcome.error_message == (
        "lemlist refused it: Bad params; fix the row, then run again with --resume --retry-failed"
    )


# --- whole runs ------------------------------------------------------------------------------


def lemlist_jobs(
    handler: Handler,
    rows: int,
    on_outcome: Callable[[int, Outcome], None],
    *,
    abort: asyncio.Event | None = None,
    workers: int = 4,
    read_ahead: int = 10_000,
) -> Coroutine[object, object, Ended]:
    """``rows`` lemlist creates, one a request, under a quick rate."""
    return SendingRun(
        ask_of=lambda _: Ask(CREATE.request),
        open_lane=lambda _: Lane(
            sender(handler, rate=Rate(50, 0.1)),
            Packer(LEMLIST, row_of=lambda row: row, size=1),
        ),
        creates=True,
        on_outcome=on_outcome,
        stop=asyncio.Event(),
        abort=abort,
        workers=workers,
        read_ahead=read_ahead,
    ).send_all(range(rows))


async def run(handler: Handler, rows: int) -> tuple[dict[int, Outcome], str | None]:
    outcomes: dict[int, Outcome] = {}

    def record(item: int, outcome: Outcome) -> None:
        assert item not in outcomes, f"row {item} reported twice"
        outcomes[item] = outcome

    ended = await lemlist_jobs(handler, rows, record)
    return outcomes, str(ended.stopped) if ended.stopped else None


async def test_every_row_gets_exactly_one_outcome() -> None:
    outcomes, stopped = await run(scripted(), rows=30)
    assert stopped is None
    assert sorted(outcomes) == list(range(30))
    assert {o.status for o in outcomes.values()} == {Status.CREATED}


async def hang(request: httpx.Request) -> httpx.Response:
    """A vendor that applies the request and never answers."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_an_abort_gives_up_on_requests_on_their_way_at_once() -> None:
    outcomes: dict[int, Outcome] = {}
    abort = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, abort.set)
    # not the 30 s of the request timeout
    await asyncio.wait_for(lemlist_jobs(hang, 10, outcomes.__setitem__, abort=abort), timeout=5)
    assert sorted(outcomes) == list(range(10))
    statuses = [outcome.status for outcome in outcomes.values()]
    # the four on their way may exist; the six never sent were not
    assert (statuses.count(Status.UNKNOWN), statuses.count(Status.NOT_SENT)) == (4, 6)
    assert {o.attempts for o in outcomes.values() if o.status is Status.UNKNOWN} == {1}


async def test_a_cancelled_run_stays_cancelled_after_an_abort() -> None:
    abort = asyncio.Event()
    run = asyncio.ensure_future(
        lemlist_jobs(hang, 10, lambda line, outcome: None, abort=abort, workers=2, read_ahead=2)
    )
    await asyncio.sleep(0.2)  # both workers wait on an answer, the reading waits for room
    abort.set()
    run.cancel()  # in the same turn: the workers' cancels must not be taken for the abort's
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, timeout=5)


async def test_workers_failing_alike_say_their_failure_once() -> None:
    answer = asyncio.Event()

    async def all_at_once(request: httpx.Request) -> httpx.Response:
        await answer.wait()
        return httpx.Response(200, json={"_id": "opp_AAAAAAAAAAAAAAAAA"})

    def full_disk(item: int, outcome: Outcome) -> None:
        raise OSError(28, "No space left on device")

    asyncio.get_running_loop().call_later(0.2, answer.set)  # four answers in one turn
    with pytest.raises(OSError, match="No space left"):  # one error, not a group of four
        await asyncio.wait_for(lemlist_jobs(all_at_once, 8, full_disk), timeout=5)


async def test_a_rejected_key_stops_the_run_and_the_rest_is_not_sent() -> None:
    calls = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls > 3:
            return httpx.Response(401, text="The authentication you supplied is incorrect")
        return httpx.Response(200, json={"_id": f"opp_{calls:017d}"})

    outcomes, stopped = await run(handle, rows=40)
    assert stopped is not None
    assert "refused the API key" in stopped
    assert "LEMLIST_API_KEY" in stopped
    assert sorted(outcomes) == list(range(40))
    statuses = [o.status for o in outcomes.values()]
    assert statuses.count(Status.CREATED) == 3
    assert statuses.count(Status.NOT_SENT) == 37
    assert calls < 10  # it stopped at once, not after trying every row
    rejected = [o for o in outcomes.values() if o.error_code == "key_rejected"]
    assert rejected
    assert rejected[0].http_status == 401


async def test_an_unreachable_vendor_stops_the_run() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outcomes, stopped = await run(handle, rows=20)
    assert stopped is not None
    assert stopped.startswith("cannot reach lemlist")
    assert len(outcomes) == 20
    assert {o.status for o in outcomes.values()} == {Status.NOT_SENT}


async def test_a_refused_key_stops_its_own_lane_only() -> None:
    refused = LEMLIST.auth_headers("key-b")["Authorization"]
    sent: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        if request.headers["Authorization"] == refused:
            return httpx.Response(401, text="The authentication you supplied is incorrect")
        return httpx.Response(200, json={"_id": "opp_AAAAAAAAAAAAAAAAA"})

    client = open_client(connections=4, timeout=5, transport=httpx.MockTransport(handle))

    def open_lane(name: object) -> Lane[tuple[int, str]]:
        one = Sender(
            client=client,
            vendor=LEMLIST,
            key=f"key-{name}",
            key_env=f"TEAM_{str(name).upper()}_KEY",
            base_url="https://api.test",
            rate=Rate(50, 0.1),
            retry=FAST,
        )
        return Lane(one, Packer(LEMLIST, row_of=lambda line: line[0], size=1))

    lines = [(n, "abc"[n % 3]) for n in range(60)]
    outcomes: dict[tuple[int, str], Outcome] = {}
    ended = await SendingRun(
        ask_of=lambda _: Ask(CREATE.request),
        open_lane=open_lane,
        lane_of=lambda line: line[1],
        creates=True,
        on_outcome=outcomes.__setitem__,
        stop=asyncio.Event(),
        workers=4,
        refusal_stops_run=False,
    ).send_all(lines)
    assert ended.stopped is None
    assert list(ended.refused) == ["b"]
    assert "TEAM_B_KEY" in str(ended.refused["b"])
    assert sorted(outcomes) == sorted(lines)
    by_lane = {
        lane: {o.status for (_, name), o in outcomes.items() if name == lane} for lane in "abc"
    }
    assert by_lane == {"a": {Status.CREATED}, "b": {Status.NOT_SENT}, "c": {Status.CREATED}}
    assert {o.error_code for (_, name), o in outcomes.items() if name == "b"} == {"key_rejected"}
    assert sent.count(refused) <= 4  # at most one request per worker, then nothing more


# --- requests that carry several lines (Saleshandy) --------------------------------------------

PACKED = Delivery(
    Request("POST", "/v1/tasks/create", {"prospectIds": ["P1", "P2", "P3"], "taskType": "13"}),
    creates=True,
)


def saleshandy_sender(handler: Handler) -> Sender:
    return Sender(
        client=open_client(connections=4, timeout=5, transport=httpx.MockTransport(handler)),
        vendor=SALESHANDY,
        key="k",
        base_url="https://api.test",
        rate=Rate(20, 2.0),
        retry=FAST,
    )


def per_prospect(*steps: int) -> tuple[Handler, list[dict[str, object]]]:
    """Answers with the given statuses in turn, then 201 with P2 failed and P3 left out."""
    queue, bodies = list(steps), []

    async def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        step = queue.pop(0) if queue else 201
        if step != 201:
            return httpx.Response(step, json={"message": "no"}, headers={"Retry-After": "0.05"})
        results = [
            {"prospectId": "P1", "taskId": "t1", "success": True},
            {"prospectId": "P2", "taskId": None, "success": False},
        ]
        return httpx.Response(201, json={"payload": {"results": results}})

    return handle, bodies


async def test_one_request_gives_an_outcome_per_prospect() -> None:
    handle, bodies = per_prospect()
    outcomes = await saleshandy_sender(handle).send(PACKED)
    assert [(o.status, o.remote_id) for o in outcomes] == [
        (Status.CREATED, "t1"),
        (Status.FAILED, ""),
        (Status.UNKNOWN, ""),
    ]
    assert {o.http_status for o in outcomes} == {201}
    assert len(bodies) == 1


async def test_a_429_retries_the_whole_request_once_for_all_its_prospects() -> None:
    handle, bodies = per_prospect(429, 503)
    outcomes = await saleshandy_sender(handle).send(PACKED)
    assert [o.status for o in outcomes] == [Status.CREATED, Status.FAILED, Status.UNKNOWN]
    assert {o.attempts for o in outcomes} == {3}
    assert [body["prospectIds"] for body in bodies] == [["P1", "P2", "P3"]] * 3


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_refused_request_fails_every_prospect_it_carried(status: int) -> None:
    handle, bodies = per_prospect(status)
    outcomes = await saleshandy_sender(handle).send(PACKED)
    assert [(o.status, o.error_code) for o in outcomes] == [(Status.FAILED, f"http_{status}")] * 3
    assert len(bodies) == 1


async def test_no_answer_makes_every_prospect_unknown_and_is_not_sent_again() -> None:
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    outcomes = await saleshandy_sender(handle).send(PACKED)
    assert [(o.status, o.error_code) for o in outcomes] == [(Status.UNKNOWN, "no_answer")] * 3
    assert seen == ["POST"]


async def test_packed_lines_travel_in_few_requests_and_each_gets_its_outcome() -> None:
    bodies: list[dict[str, object]] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        results = [
            {"prospectId": p, "taskId": f"t-{p}", "success": True} for p in body["prospectIds"]
        ]
        return httpx.Response(201, json={"payload": {"results": results}})

    lines = [(row, f"P{row}-{n}") for row in range(30) for n in range(4)]  # 120 lines
    asks = {
        line: Ask(
            Request(
                "POST",
                "/v1/tasks/create",
                {"prospectIds": [line[1]], "taskType": "13" if line[0] % 2 else "3"},
            ),
            subject=line[1],
        )
        for line in lines
    }
    outcomes: dict[tuple[int, str], Outcome] = {}
    ended = await SendingRun(
        ask_of=asks.__getitem__,
        open_lane=lambda _: Lane(
            saleshandy_sender(handle),
            Packer(SALESHANDY, row_of=lambda line: line[0], size=50),
        ),
        creates=True,
        on_outcome=outcomes.__setitem__,
        stop=asyncio.Event(),
        workers=4,
    ).send_all(lines)
    assert ended.stopped is None
    assert sorted(len(body["prospectIds"]) for body in bodies) == [10, 10, 50, 50]  # type: ignore[arg-type]
    assert {line: o.remote_id for line, o in outcomes.items()} == {
        line: f"t-{line[1]}" for line in lines
    }


async def test_batches_are_not_cut_short_while_every_sender_is_busy() -> None:
    sizes: list[int] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sizes.append(len(body["prospectIds"]))
        await asyncio.sleep(0.02)  # a busy vendor: the workers are never idle for long
        results = [{"prospectId": p, "taskId": "t", "success": True} for p in body["prospectIds"]]
        return httpx.Response(201, json={"payload": {"results": results}})

    lines = [(n, f"P{n}") for n in range(2000)]
    asks = {
        line: Ask(
            Request(
                "POST",
                "/v1/tasks/create",
                {"prospectIds": [line[1]], "taskType": str(2 + line[0] % 2)},
            ),
            subject=line[1],
        )
        for line in lines
    }
    outcomes: dict[tuple[int, str], Outcome] = {}
    await SendingRun(
        ask_of=asks.__getitem__,
        open_lane=lambda _: Lane(
            saleshandy_sender(slow),
            # batches "wait too long" almost at once: only an idle sender may take them early
            Packer(SALESHANDY, row_of=lambda line: line[0], size=100, max_wait=0.001),
        ),
        creates=True,
        on_outcome=outcomes.__setitem__,
        stop=asyncio.Event(),
        workers=1,
    ).send_all(lines)
    assert len(outcomes) == 2000
    assert sum(sizes) == 2000
    assert len(sizes) <= 22  # 20 full requests; at most one early, small one per task


# --- the journal's marks ---------------------------------------------------------------------


class Marks:
    """The ``before_send`` marks of a run of lemlist creates, one line a request, checked as
    each request arrives: its line must have been marked before."""

    def __init__(self, *, answer_after: float) -> None:
        self.answer_after = answer_after
        self.calls: list[list[int]] = []  # the lines of each call, in order
        self.marked: set[int] = set()
        self.arrived: set[int] = set()
        #: the most lines ever marked whose requests had not arrived yet
        self.most_ahead = 0

    def mark(self, lines: Sequence[int]) -> None:
        self.calls.append(list(lines))
        self.marked.update(lines)
        self.most_ahead = max(self.most_ahead, len(self.marked - self.arrived))

    async def answer(self, request: httpx.Request) -> httpx.Response:
        row = int(json.loads(request.content)["recordId"].removeprefix("lea_"))
        assert row in self.marked, f"row {row} went out before its mark"
        self.arrived.add(row)
        await asyncio.sleep(self.answer_after)
        return httpx.Response(200, json={"_id": f"opp_{row:017d}"})


async def marked_run(rows: int, *, workers: int, answer_after: float) -> Marks:
    marks = Marks(answer_after=answer_after)
    outcomes: dict[int, Outcome] = {}
    ended = await SendingRun(
        ask_of=lambda row: Ask(Request("POST", "/api/tasks", {"recordId": f"lea_{row}"})),
        open_lane=lambda _: Lane(
            sender(marks.answer, rate=Rate(100_000, 1.0)),
            Packer(LEMLIST, row_of=lambda row: row, size=1),
        ),
        creates=True,
        on_outcome=outcomes.__setitem__,
        stop=asyncio.Event(),
        before_send=marks.mark,
        workers=workers,
    ).send_all(range(rows))
    assert ended.stopped is None
    assert {row for row, o in outcomes.items() if o.status is Status.CREATED} == set(range(rows))
    return marks


@pytest.mark.parametrize(("rows", "answer_after"), [(600, 0), (24, 0.05)])
async def test_each_request_marks_its_own_lines_just_before_it_goes_out(
    rows: int, answer_after: float
) -> None:
    marks = await marked_run(rows, workers=4, answer_after=answer_after)
    # one call per request, with that request's line alone, however fast requests go out
    assert sorted(marks.calls) == [[row] for row in range(rows)]
    # marked and not arrived: only lines a worker has taken off the queue, one per worker
    assert marks.most_ahead <= 4


# --- the server's own count, against the sandbox ---------------------------------------------


def write_lemlist_creates(path: Path, count: int) -> Path:
    row = "lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,Call {n}"
    rows = [row.format(n=n) for n in range(count)]
    path.write_text("leadId,type,assignedTo,dueDate,title\n" + "\n".join(rows) + "\n")
    return path


def run_on(sandbox: Sandbox, data: Path) -> list[float]:
    """``run`` of ``data`` against ``sandbox`` (lemlist's own window, 20 per 2 s), in this
    process; when each request reached the sandbox."""
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url)
    assert ran.code == 0, ran.stderr
    return sorted(arrival.time for arrival in sandbox.arrivals)


def test_a_server_that_counts_as_it_answers_leaves_a_run_alone_the_whole_window(
    tmp_path: Path,
) -> None:
    # Answered 40-120 ms after they arrive, counted as the answer starts: ours that arrived
    # meanwhile are in the count, and are not another tool's
    faults = Faults(latency=(0.04, 0.12), seed=1, remaining_at="answer")
    data = write_lemlist_creates(tmp_path / "in.csv", 60)
    times = run_on(Sandbox(keys={KEY}, faults=faults), data)
    after_the_first_window = [moment for moment in times if moment > times[0] + 2.0]
    assert max_in_window(after_the_first_window, 2.0) == 20


@pytest.mark.parametrize("remaining_at", ["admission", "answer"])
def test_another_tool_that_sends_more_while_the_window_is_full_meets_only_a_request_sent_alone(
    tmp_path: Path, remaining_at: Literal["admission", "answer"]
) -> None:
    # The other tool's 6 in every 2 s start with the sandbox, as the run does: while the
    # run's first window is full, the other tool's share grows from 1 to 6, and the run,
    # with nothing on its way, hears nothing of it. Whether the request sent alone when the
    # window frees still finds room depends on how fast the first window went out (see the
    # test in virtual time below): what holds either way is that no other request goes with
    # it, and that a 429 it draws is waited out and sent again
    sandbox = Sandbox(keys={KEY}, faults=Faults(foreign=6, remaining_at=remaining_at))
    run_on(sandbox, write_lemlist_creates(tmp_path / "in.csv", 50))
    leads = sorted(task.body["leadId"] for task in sandbox.applied)
    assert leads == [f"lea_{n:017d}" for n in range(50)]  # each created once
    arrivals = sorted(sandbox.arrivals, key=lambda arrival: arrival.time)
    for n, arrival in enumerate(arrivals):
        if arrival.status == 429:
            assert arrival.answered is not None
            assert n == 0 or arrivals[n - 1].time < (arrivals[n - 1].answered or 0) <= arrival.time
            assert n == len(arrivals) - 1 or arrival.answered <= arrivals[n + 1].time


class LemlistWindow:
    """lemlist's window as the sandbox counts it, in the loop's time: the run's requests
    that arrived in the last 2 s, and another tool's 6 in every 2 s from time 0 on."""

    def __init__(self) -> None:
        self.limit, self.period, self.step = 20, 2.0, 2.0 / 6
        self.arrivals: list[float] = []
        self.refused: list[float] = []

    def arrive(self, now: float) -> tuple[int, bool]:
        """What the window counts with a request arriving ``now``, and whether it is full."""
        ours = sum(1 for moment in self.arrivals if now - moment <= self.period)
        theirs = math.floor(now / self.step) - max(-1, math.floor((now - self.period) / self.step))
        full = ours + theirs >= self.limit
        self.arrivals.append(now)
        if full:
            self.refused.append(now)
        return min(self.limit, ours + theirs + 1), full


class CreatesAlone:
    """Creates sent through a probing window to a :class:`LemlistWindow`, in the loop's
    time, each arriving half its answer time after it was sent; a 429 pauses the window."""

    def __init__(self, server: LemlistWindow, *, answer_time: float) -> None:
        self.server = server
        self.answer_time = answer_time
        self.window = ArrivalWindow(LEMLIST_RATE, probes=True)
        self.on_their_way = 0
        #: how many of ours were on their way as each refused request arrived (itself too)
        self.on_their_way_at_429s: list[int] = []

    async def send(self, count: int, *, at_once: int = 8) -> None:
        workers = asyncio.Semaphore(at_once)

        async def one() -> None:
            async with workers:
                while not await self._attempt():
                    await self.window.pause(1.0)  # the sandbox's Retry-After, at least 1 s

        await asyncio.gather(*(one() for _ in range(count)))

    async def _attempt(self) -> bool:
        """One request; whether the server took it."""
        async with self.window.slot() as slot:
            self.on_their_way += 1
            await asyncio.sleep(self.answer_time / 2)
            slot.server_used, slot.refused = self.server.arrive(asyncio.get_running_loop().time())
            if slot.refused:
                self.on_their_way_at_429s.append(self.on_their_way)
            await asyncio.sleep(self.answer_time / 2)
            self.on_their_way -= 1
        return not slot.refused


@pytest.mark.parametrize(("answer_time", "refused"), [(0.0025, []), (0.008, [1])])
def test_another_tools_requests_no_answer_could_show_meet_only_a_request_sent_alone(
    answer_time: float, refused: list[int]
) -> None:
    # The first window goes out one request at a time (the first answer showed another
    # tool's request). The other tool sends 5 more while it is full; when its first slot
    # ends, the request sent alone finds room only if enough of the first window's
    # requests have left the server's 2 s by then: with 2.5 ms answers they have, with 8 ms
    # (a busy machine) they have not, and that one request draws the 429. The rest waited
    # for its answer, and went within the share it showed.
    server = LemlistWindow()
    run = CreatesAlone(server, answer_time=answer_time)

    async def after_the_other_tools_first() -> None:
        await asyncio.sleep(0.05)
        await run.send(50)

    in_virtual_time(after_the_other_tools_first())
    assert run.on_their_way_at_429s == refused
    assert all(2.0 < moment < 2.1 for moment in server.refused)  # as the first window frees
    assert len(server.arrivals) == 50 + len(refused)


async def test_the_first_request_goes_before_the_rest_of_the_file_is_asked() -> None:
    """Asking for a line may take a while (the task ledger claims it): a worker waiting for
    a request gets the first one at once, not once every line has been asked."""
    asked: list[int] = []
    asked_when_sent: list[int] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        asked_when_sent.append(len(asked))
        return httpx.Response(200, json={"_id": "opp_AAAAAAAAAAAAAAAAA"})

    def ask_of(row: int) -> Ask:
        asked.append(row)
        return Ask(CREATE.request)

    outcomes: dict[int, Outcome] = {}
    ended = await SendingRun(
        ask_of=ask_of,
        open_lane=lambda _: Lane(
            sender(answer, rate=Rate(50, 0.1)), Packer(LEMLIST, row_of=lambda row: row, size=1)
        ),
        creates=True,
        on_outcome=outcomes.__setitem__,
        stop=asyncio.Event(),
        workers=4,
    ).send_all(range(300))
    assert ended.stopped is None
    assert len(outcomes) == 300
    assert asked_when_sent[0] < 300 // 2, asked_when_sent[:3]  # not once all 300 are asked
