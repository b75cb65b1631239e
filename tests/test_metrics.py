"""Metrics for batch jobs: the requests, 429s and retries a run counts, and the Prometheus
textfile that ``--metrics-file`` writes at the end of ``run`` and ``run-folder``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from helpers import bulk_tasks, in_virtual_time, read_results
from test_guarantees import FAST, fast_sandbox, write_creates

from bulk_tasks.sandbox import Faults, SandboxServer
from bulk_tasks.sending.sender import Delivery, Sender
from bulk_tasks.sending.traffic import Traffic
from bulk_tasks.sending.transport import open_client
from bulk_tasks.sending.window import Rate, RetryPolicy
from bulk_tasks.vendors.base import Request
from bulk_tasks.vendors.lemlist import LEMLIST

RETRY = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
CREATE = Delivery(Request("POST", "/api/tasks", {"recordId": "lea_x"}), creates=True)
LIST = Request("GET", "/api/tasks?offset=0", {})
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def answering(*steps: int | type[Exception]) -> Handler:
    """Answers with the given statuses (or raises the given errors) in turn, then 200."""
    queue = list(steps)

    async def handle(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if queue else 200
        if isinstance(step, type):
            raise step("scripted", request=request)
        body: object = {"_id": "opp_AAAAAAAAAAAAAAAAA"} if request.method == "POST" else []
        return httpx.Response(step, json=body if step == 200 else None)

    return handle


def counting_sender(handler: Handler, traffic: Traffic) -> Sender:
    return Sender(
        client=open_client(connections=2, timeout=5, transport=httpx.MockTransport(handler)),
        vendor=LEMLIST,
        key="k",
        base_url="https://api.test",
        rate=Rate(20, 2.0),
        retry=RETRY,
        traffic=traffic,
    )


# --- the traffic a run counts --------------------------------------------------------------


def test_a_sender_counts_each_request_each_429_and_each_retry() -> None:
    traffic = Traffic()
    send = counting_sender(answering(429, 500, 429), traffic)
    in_virtual_time(send.send(CREATE))  # a 429 pauses the window: time is moved, not slept
    assert traffic == Traffic(requests=4, rate_limited=2, retries=3)


def test_lookups_count_in_the_same_traffic() -> None:
    traffic = Traffic()
    send = counting_sender(answering(200, 429), traffic)
    in_virtual_time(send.send(CREATE))
    in_virtual_time(send.look(LIST))
    assert traffic == Traffic(requests=3, rate_limited=1, retries=1)


def test_a_request_that_could_not_connect_is_a_retry_not_a_request() -> None:
    traffic = Traffic()
    send = counting_sender(answering(httpx.ConnectError, httpx.ConnectError), traffic)
    in_virtual_time(send.send(CREATE))
    assert traffic == Traffic(requests=1, rate_limited=0, retries=2)


def test_traffics_add_up() -> None:
    one, other = Traffic(1, 2, 3), Traffic(requests=10, rate_limited=20, retries=30)
    assert one + other == Traffic(requests=11, rate_limited=22, retries=33)


def faulty_sandbox() -> SandboxServer:
    """A sandbox that answers some requests 500 and some 429, the same ones every time."""
    return SandboxServer(fast_sandbox(Faults(p_error_500=0.15, p_spurious_429=0.15, seed=5)))


def test_the_json_summary_says_the_requests_429s_and_retries(tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    with faulty_sandbox() as server:
        ran = bulk_tasks(
            *("run", write_creates(tmp_path / "in.csv", range(16)), "-t", "lemlist"),
            *("--base-url", server.url, *FAST, "--results", results),
            *("--log-format", "json"),
        )
    sandbox = server.sandbox
    assert ran.code == 0, ran.stderr
    records = [json.loads(line) for line in ran.stdout.splitlines()]
    [summary] = [record for record in records if record["event"] == "summary"]
    statuses = [arrival.status for arrival in sandbox.arrivals]
    tries = sum(int(line["attempts"]) for line in read_results(results))
    assert statuses.count(429) > 0  # both causes drawn
    assert statuses.count(500) > 0
    assert (summary["requests"], summary["rate_limited"], summary["retries"]) == (
        len(statuses),
        statuses.count(429),
        tries - 16,
    )
