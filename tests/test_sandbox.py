"""The sandbox over real HTTP: auth, the sliding window, the seed's schema, updates, faults."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import Message

from bulk_tasks.sandbox import DEMO_TASKS, Applied, Faults, Sandbox, SandboxServer, max_in_window

USER = "usr_7YzNqVRMCfdeHEzMn"
TASK_ID = re.compile(r"opp_[A-Za-z0-9]{17}")
JS_DATE = (
    re.compile(  # JavaScript's Date.toString(), e.g. "Tue Feb 16 2021 09:02:42 GMT+0000 (...)"
        r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d{4} \d\d:\d\d:\d\d GMT\+0000"
        r" \(Coordinated Universal Time\)"
    )
)
LINKEDIN_DEMO = next(task["_id"] for task in DEMO_TASKS if task["type"] == "linkedin")
PHONE_DEMO = next(task["_id"] for task in DEMO_TASKS if task["type"] == "phone")
_fresh_keys = itertools.count()


@dataclass
class Served:
    """A running sandbox and a client of it that uses ``key``."""

    sandbox: Sandbox
    url: str
    key: str
    client: httpx.Client

    def applied(self) -> list[Applied]:
        return [record for record in self.sandbox.applied if record.key == self.key]


Launch = Callable[..., Served]


def task_body(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    body = {
        "type": "phone",
        "assignedTo": USER,
        "dueDate": "2025-02-10T09:58:57.169Z",
        "title": "Call back",
        "message": "About the renewal",
        "priority": "2",
        "leadId": "lea_zUwSUPSxozD9fLVGw",
    } | changes
    return {name: value for name, value in body.items() if name not in drop}


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Start a sandbox of its own with the given options; it stops after the test."""
    with contextlib.ExitStack() as stack:

        def start(*, timeout: float = 5.0, **options: Any) -> Served:
            server = stack.enter_context(SandboxServer(Sandbox(**options)))
            client = httpx.Client(base_url=server.url, auth=("", "key-1"), timeout=timeout)
            return Served(server.sandbox, server.url, "key-1", stack.enter_context(client))

        yield start


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox()) as server:
        yield server


@pytest.fixture
def api(shared_server: SandboxServer) -> Iterator[Served]:
    """The shared sandbox, with a key of this test's own so that windows never collide."""
    key = f"key-{next(_fresh_keys)}"
    with httpx.Client(base_url=shared_server.url, auth=("", key), timeout=5.0) as client:
        yield Served(shared_server.sandbox, shared_server.url, key, client)


# --- create ---------------------------------------------------------------------------------


def test_create_answers_like_the_seed_example_and_is_applied_and_listed(api: Served) -> None:
    response = api.client.post("/api/tasks", json=task_body())

    assert response.status_code == 200
    task = response.json()
    assert TASK_ID.fullmatch(task["_id"])
    assert (task["type"], task["title"], task["priority"]) == ("phone", "Call back", 2)
    assert (task["leadId"], task["userId"]) == ("lea_zUwSUPSxozD9fLVGw", USER)
    assert (task["content"], task["status"]) == ("About the renewal", "pending")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", task["createdAt"])
    [record] = api.applied()
    assert (record.method, record.task_id, record.body) == ("POST", task["_id"], task_body())
    assert task["_id"] in {
        listed["_id"] for listed in api.client.get("/api/tasks").json()["results"]
    }


def test_create_gives_each_task_a_new_id(api: Served) -> None:
    ids = {api.client.post("/api/tasks", json=task_body()).json()["_id"] for _ in range(5)}

    assert len(ids) == 5


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (task_body(drop=("type",)), "'type' is a required property"),
        (task_body(drop=("dueDate",)), "'dueDate' is a required property"),
        (task_body(type="sms"), "type: 'sms' is not one of"),
        (task_body(dueDate="tomorrow"), "dueDate: 'tomorrow' is not a 'date-time'"),
        (task_body(dueDate="2025-02-30T09:00:00Z"), "dueDate: '2025-02-30T09:00:00Z' is not a"),
        (task_body(dueDate="2025-02-10T09:00:00"), "dueDate: '2025-02-10T09:00:00' is not a"),
        (task_body(priority="3"), "priority: '3' is not one of"),
        (task_body(priority=1), "priority: 1 is not of type 'string'"),
        (task_body(type="linkedin", images=["not a url"]), "images.0: 'not a url' is not a 'uri'"),
        (task_body(assignedTo=None), "assignedTo: None is not of type 'string'"),
        ([task_body()], "body is not a JSON object"),
    ],
)
def test_create_refuses_what_the_seed_schema_refuses(api: Served, body: Any, reason: str) -> None:
    response = api.client.post("/api/tasks", json=body)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(f"Bad params: {reason}")
    assert api.applied() == []


def test_create_refuses_a_body_that_is_not_json(api: Served) -> None:
    response = api.client.post("/api/tasks", content=b"type=phone")

    assert (response.status_code, response.text) == (400, "Bad params: body is not a JSON object")


@pytest.mark.parametrize("lead_field", ["recordId", "leadId"])
def test_create_accepts_recordid_or_leadid_alone(api: Served, lead_field: str) -> None:
    body = task_body(drop=("leadId",)) | {lead_field: "lea_aaaaaaaaaaaaaaaaa"}

    response = api.client.post("/api/tasks", json=body)

    assert response.status_code == 200
    assert response.json()["leadId"] == "lea_aaaaaaaaaaaaaaaaa"


def test_create_without_recordid_or_leadid_is_refused(api: Served) -> None:
    response = api.client.post("/api/tasks", json=task_body(drop=("leadId",)))

    assert response.status_code == 400
    assert response.text == "Bad params: recordId or leadId is required"


def test_create_keeps_media_only_on_linkedin_tasks(api: Served) -> None:
    images = ["https://example.com/a.png"]

    linkedin = api.client.post("/api/tasks", json=task_body(type="linkedin", images=images))
    phone = api.client.post("/api/tasks", json=task_body(images=images))

    assert linkedin.json()["images"] == images
    assert phone.status_code == 200
    assert "images" not in phone.json()


# --- update ---------------------------------------------------------------------------------


def test_update_of_an_unknown_task_is_404(api: Served) -> None:
    response = api.client.patch("/api/tasks", json={"id": "opp_AbkAqfvTJtdR7mdZ5", "title": "x"})

    assert (response.status_code, response.text) == (404, "Task not found")
    assert response.headers["content-type"].startswith("text/plain")
    assert api.applied() == []


def test_update_without_id_is_bad_params(api: Served) -> None:
    response = api.client.patch("/api/tasks", json={"title": "x"})

    assert (response.status_code, response.text) == (400, "Bad params: 'id' is a required property")


@pytest.mark.parametrize("media", ["images", "videos"])
def test_update_with_media_on_a_non_linkedin_task_is_refused(api: Served, media: str) -> None:
    response = api.client.patch("/api/tasks", json={"id": PHONE_DEMO, media: []})

    assert response.status_code == 400
    assert response.json() == {"error": "LINKEDIN_MEDIA_INVALID_TYPE"}
    assert api.applied() == []


def test_update_with_media_on_a_linkedin_task_replaces_it(api: Served) -> None:
    created = api.client.post("/api/tasks", json=task_body(type="linkedin")).json()
    videos = ["https://example.com/v.mp4"]

    response = api.client.patch("/api/tasks", json={"id": created["_id"], "videos": videos})

    assert response.status_code == 200
    assert response.json()["videos"] == videos


def test_update_applies_the_given_fields(api: Served) -> None:
    created = api.client.post("/api/tasks", json=task_body()).json()
    changes = {"assignedTo": "usr_xyz", "message": "New", "priority": "", "title": "T2"}

    response = api.client.patch("/api/tasks", json={"id": created["_id"]} | changes)

    task = response.json()
    assert (task["userId"], task["content"], task["priority"], task["title"]) == (
        "usr_xyz",
        "New",
        "",
        "T2",
    )
    assert task["dueDate"] == created["dueDate"]
    assert [record.method for record in api.applied()] == ["POST", "PATCH"]


def test_update_done_completes_the_task_and_unlists_it(api: Served) -> None:
    created = api.client.post("/api/tasks", json=task_body()).json()

    response = api.client.patch("/api/tasks", json={"id": created["_id"], "done": True})

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert "completedAt" in response.json()
    assert created["_id"] not in {
        task["_id"] for task in api.client.get("/api/tasks").json()["results"]
    }
    assert api.applied()[-1].task_id == created["_id"]


# --- demo tasks -----------------------------------------------------------------------------


def test_demo_tasks_look_like_real_ones() -> None:
    assert len(DEMO_TASKS) == 6
    assert len({task["_id"] for task in DEMO_TASKS}) == 6
    assert all(TASK_ID.fullmatch(task["_id"]) for task in DEMO_TASKS)
    assert all(re.fullmatch(r"lea_[A-Za-z0-9]{17}", task["leadId"]) for task in DEMO_TASKS)
    assert {task["userId"] for task in DEMO_TASKS} == {USER}
    assert [task["type"] for task in DEMO_TASKS].count("linkedin") == 2


def test_a_fresh_sandbox_lists_the_demo_tasks_and_can_update_them(launch: Launch) -> None:
    served = launch()

    listed = served.client.get("/api/tasks").json()["results"]
    done = served.client.patch("/api/tasks", json={"id": LINKEDIN_DEMO, "done": True})

    assert [task["_id"] for task in listed] == [task["_id"] for task in DEMO_TASKS]
    assert done.json()["status"] == "completed"
    assert [record.task_id for record in served.sandbox.applied] == [LINKEDIN_DEMO]
    assert all(task["status"] == "pending" for task in DEMO_TASKS)  # the constant is untouched


def test_demo_tasks_can_be_left_out(launch: Launch) -> None:
    served = launch(demo_tasks=False)

    assert served.client.get("/api/tasks").json()["results"] == []
    assert served.client.patch("/api/tasks", json={"id": PHONE_DEMO}).status_code == 404


# --- auth -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(keys={"k1"})) as server:
        yield server


@pytest.mark.parametrize(
    "headers",
    [
        basic(":wrong-key"),
        {},
        basic("someone:k1"),
        basic(":"),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer k1"},
    ],
    ids=["wrong key", "missing", "non-empty user", "empty key", "malformed", "not basic"],
)
def test_bad_credentials_get_401_and_change_nothing(
    keyed_server: SandboxServer, headers: dict[str, str]
) -> None:
    before = len(keyed_server.sandbox.applied)
    with httpx.Client(base_url=keyed_server.url) as client:
        refused = client.post("/api/tasks", json=task_body(), headers=headers)
        accepted = client.post("/api/tasks", json=task_body(), headers=basic(":k1"))

    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("text/plain")
    assert refused.text == "The authentication you supplied is incorrect"
    assert accepted.status_code == 200
    assert [record.key for record in keyed_server.sandbox.applied[before:]] == ["k1"]
    assert keyed_server.sandbox.arrivals[-2].status == 401


def test_without_a_key_list_any_non_empty_key_is_accepted(api: Served) -> None:
    with httpx.Client(base_url=api.url, headers=basic(":anything")) as client:
        assert client.get("/api/tasks").status_code == 200


# --- rate limit -----------------------------------------------------------------------------


def test_a_full_window_gets_429_with_lemlist_headers(launch: Launch) -> None:
    served = launch(limit=5, period=2.0)

    responses = [served.client.get("/api/tasks") for _ in range(6)]

    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1", "0", "0"]
    refused = responses[-1]
    assert refused.text == "Too many requests"
    assert refused.headers["Retry-After"] == "2"  # ceil(~1.99 s until the oldest one leaves)
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert JS_DATE.fullmatch(refused.headers["X-RateLimit-Reset"])
    assert [a.status for a in served.sandbox.arrivals] == [200] * 5 + [429]


def test_an_arrival_records_when_its_answer_was_complete(launch: Launch) -> None:
    served = launch(faults=Faults(latency=(0.2, 0.2)))
    before = time.monotonic()
    served.client.post("/api/tasks", json=task_body())
    [arrival] = served.sandbox.arrivals
    assert arrival.answered is not None
    # the latency lies between the two, and the client had the answer after
    assert before <= arrival.time <= arrival.answered - 0.2 <= time.monotonic() - 0.2


def test_refused_arrivals_count_toward_the_window(launch: Launch) -> None:
    served = launch(limit=2, period=0.6)
    statuses = [served.client.get("/api/tasks").status_code for _ in range(2)]
    time.sleep(0.25)
    statuses += [served.client.get("/api/tasks").status_code for _ in range(2)]
    first_two_gone = served.sandbox.arrivals[1].time + 0.6 + 0.05
    time.sleep(max(0.0, first_two_gone - time.monotonic()))

    statuses.append(served.client.get("/api/tasks").status_code)

    arrivals = served.sandbox.arrivals
    assert arrivals[4].time - arrivals[2].time <= 0.6  # the refused two are still in the window
    assert statuses == [200, 200, 429, 429, 429]


def test_windows_are_per_key(launch: Launch) -> None:
    served = launch(limit=1, period=2.0)

    first = served.client.get("/api/tasks")
    other = httpx.get(f"{served.url}/api/tasks", auth=("", "key-2"))
    again = served.client.get("/api/tasks")

    assert (first.status_code, other.status_code, again.status_code) == (200, 200, 429)
    assert [a.key for a in served.sandbox.arrivals] == ["key-1", "key-2", "key-1"]


def test_another_tools_requests_count_in_every_keys_window(launch: Launch) -> None:
    # 3 a minute, from the sandbox's start: one is in the window now, the next in 20 s
    served = launch(limit=3, period=60.0, faults=Faults(foreign=3))

    responses = [served.client.get("/api/tasks") for _ in range(3)]
    other = httpx.get(f"{served.url}/api/tasks", auth=("", "key-2"))

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert other.status_code == 200  # every key has one of the other tool's, and its own
    assert [a.status for a in served.sandbox.arrivals] == [200, 200, 429, 200]


def test_another_tools_requests_are_evenly_spaced() -> None:
    sandbox = Sandbox(faults=Faults(foreign=6))
    start = sandbox.started
    foreign = sandbox.foreign_arrivals(start - 1, start + 9.9, 2.0)
    assert len(foreign) == 30  # at 0, 1/3, 2/3, ... s: six in every 2 s
    assert foreign[0] == start
    assert max_in_window(foreign, 1.99) == 6


def test_another_tools_requests_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="foreign requests per window must be >= 0"):
        Faults(foreign=-1)


@pytest.mark.parametrize(
    ("remaining_at", "remaining"),
    [
        ("admission", ["3", "2", "0"]),  # each as it arrived: the slow one first, of 5
        ("answer", ["2", "2", "0"]),  # the slow one as it was answered, the second counted
    ],
)
def test_the_remaining_count_is_taken_as_a_request_arrives_or_as_its_answer_starts(
    launch: Launch, remaining_at: str, remaining: list[str]
) -> None:
    # one of the other tool's requests is in the window from the start
    faults = Faults(latency=(0.5, 0.5), foreign=1, remaining_at=remaining_at)
    served = launch(limit=5, period=60.0, faults=faults)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(served.client.post, "/api/tasks", json=task_body())
        deadline = time.monotonic() + 5
        while not served.sandbox.arrivals:  # then the slow one waits half a second
            assert time.monotonic() < deadline, "the first request never arrived"
            time.sleep(0.005)
        with httpx.Client(base_url=served.url, auth=("", served.key), timeout=5.0) as other:
            quick = other.get("/api/tasks")  # reads have no latency: answered at once
            answered = slow.result()
            more = [other.get("/api/tasks") for _ in range(3)]

    assert [answered.status_code, quick.status_code] == [200, 200]
    said = [r.headers["X-RateLimit-Remaining"] for r in (answered, quick, more[-1])]
    assert said == remaining
    # whether a request is refused is decided as it arrives, under either timing
    assert [r.status_code for r in more] == [200, 200, 429]


# --- faults ---------------------------------------------------------------------------------


def test_error_500_is_not_applied(launch: Launch) -> None:
    served = launch(faults=Faults(p_error_500=1.0))

    response = served.client.post("/api/tasks", json=task_body())

    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert served.sandbox.applied == []
    assert len(served.client.get("/api/tasks").json()["results"]) == len(DEMO_TASKS)


def test_spurious_429_is_not_applied_though_the_window_has_room(launch: Launch) -> None:
    served = launch(faults=Faults(p_spurious_429=1.0))

    response = served.client.post("/api/tasks", json=task_body())

    assert (response.status_code, response.text) == (429, "Too many requests")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "19"
    assert served.sandbox.applied == []


def test_hang_applies_and_never_answers(launch: Launch) -> None:
    served = launch(faults=Faults(p_hang=1.0), timeout=0.5)

    with pytest.raises(httpx.ReadTimeout):
        served.client.post("/api/tasks", json=task_body())

    assert [record.method for record in served.sandbox.applied] == ["POST"]
    assert served.sandbox.arrivals[-1].status is None


def test_shutdown_ends_a_hang_at_once() -> None:
    server = SandboxServer(Sandbox(faults=Faults(p_hang=1.0)))
    errors: list[Exception] = []

    def post() -> None:
        try:
            httpx.post(f"{server.url}/api/tasks", json=task_body(), auth=("", "k"), timeout=10)
        except httpx.HTTPError as error:
            errors.append(error)

    with server:
        caller = threading.Thread(target=post)
        caller.start()
        deadline = time.monotonic() + 5
        while not server.sandbox.applied and time.monotonic() < deadline:
            time.sleep(0.01)  # the task is created before the hang begins
    caller.join(5)

    assert len(server.sandbox.applied) == 1
    assert len(errors) == 1
    # the connection was closed: the caller did not wait out its 10 s (a ReadTimeout)
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_drop_applies_and_breaks_the_reply(launch: Launch) -> None:
    served = launch(faults=Faults(p_drop=1.0))

    with pytest.raises(httpx.RemoteProtocolError):
        served.client.post("/api/tasks", json=task_body())

    assert [record.method for record in served.sandbox.applied] == ["POST"]
    assert served.sandbox.arrivals[-1].status is None


def test_deliberate_drops_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    server = SandboxServer(Sandbox(faults=Faults(p_drop=1.0)))
    with server, pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{server.url}/api/tasks", json=task_body(), auth=("", "k"))

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_latency_delays_writes_only(launch: Launch) -> None:
    served = launch(faults=Faults(latency=(1.5, 1.5)))

    # within a second: a read on 127.0.0.1 takes milliseconds, a write 1.5 s
    assert served.client.get("/api/tasks", timeout=1.0).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        served.client.post("/api/tasks", json=task_body(), timeout=1.0)


def test_faults_are_reproducible_from_the_seed(launch: Launch) -> None:
    faults = Faults(p_error_500=0.5, seed=3)
    runs = [launch(faults=faults) for _ in range(2)]

    statuses = [
        [s.client.post("/api/tasks", json=task_body()).status_code for _ in range(8)] for s in runs
    ]

    assert statuses[0] == statuses[1]
    assert set(statuses[0]) == {200, 500}


@pytest.mark.parametrize(
    "options",
    [{"p_hang": 0.6, "p_drop": 0.6}, {"p_error_500": -0.1}, {"latency": (0.5, 0.1)}],
)
def test_impossible_faults_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Faults(**options)


# --- the server -----------------------------------------------------------------------------


def test_server_listens_on_localhost_and_stops() -> None:
    with SandboxServer() as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.port != 0
        assert httpx.get(f"{server.url}/nowhere").status_code == 404

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/api/tasks", auth=("", "k"))


def test_unsupported_method_is_405(api: Served) -> None:
    assert api.client.delete("/api/tasks").status_code == 405


# --- max_in_window --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "period", "expected"),
    [
        ([], 1.0, 0),
        ([5.0], 1.0, 1),
        ([0.0, 0.5, 1.0], 1.0, 3),  # closed: both ends of the window count
        ([0.0, 1.0, 2.0], 1.0, 2),
        ([0.0, 1.0, 2.0], 0.999, 1),
        ([3.0, 0.0, 2.9, 0.1, 3.05], 0.2, 3),  # unsorted input
        ([1.0, 1.0, 1.0, 1.0], 0.0, 4),
        ([0.0, 0.1, 0.2, 2.15, 2.2, 2.25, 2.3], 2.0, 4),
    ],
)
def test_max_in_window(times: list[float], period: float, expected: int) -> None:
    assert max_in_window(times, period) == expected


def test_the_sandbox_command_sends_another_tools_requests_on_every_key() -> None:
    # 40 per 2 s from the start: within 2 s, the other tool alone fills lemlist's window
    command = [sys.executable, "-m", "bulk_tasks", "sandbox", "--port", "0", "--foreign", "40"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        try:
            url = process.stderr.readline().split(" at ")[1].split("/api/")[0]
            deadline = time.monotonic() + 10
            while (answer := httpx.get(f"{url}/api/tasks", auth=("", "k"))).status_code != 429:
                assert answer.headers["X-RateLimit-Remaining"] != "19"  # the other tool's count
                assert time.monotonic() < deadline, "the other tool never filled the window"
                time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert answer.headers["X-RateLimit-Remaining"] == "0"


# --- Get Many Tasks: pages and filters -------------------------------------------------------


def test_pending_tasks_are_listed_by_page_and_filter_as_get_many_tasks_says(
    launch: Launch,
) -> None:
    served = launch(demo_tasks=False, limit=1000)
    other = "usr_OtherUser00000001"
    for n in range(105):
        served.client.post(
            "/api/tasks", json=task_body(title=f"T{n}", dueDate="2026-03-02T09:00:00.000Z")
        )
    served.client.post("/api/tasks", json=task_body(title="email", type="email"))
    served.client.post("/api/tasks", json=task_body(title="other", assignedTo=other))
    done = served.client.post("/api/tasks", json=task_body(title="done")).json()["_id"]
    served.client.patch("/api/tasks", json={"id": done, "done": True})

    def titles(page: int = 0, **filters: Any) -> list[str]:
        rules = [{"filterId": name, **rule} for name, rule in filters.items()]
        answer = served.client.get(
            "/api/tasks", params={"page": page, "filters": json.dumps(rules)}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["page"] == str(page)
        return [task["title"] for task in answer.json()["results"]]

    march = {"from": "2026-03-01", "to": "2026-03-03"}
    assert titles(0, dueDate=march) == [f"T{n}" for n in range(100)]
    assert titles(1, dueDate=march) == [f"T{n}" for n in range(100, 105)]
    assert titles(2, dueDate=march) == []
    assert titles(0, type={"in": ["email"]}) == ["email"]
    assert titles(0, assignedTo={"in": [other]}) == ["other"]
    assert "done" not in titles(0) + titles(1)  # done tasks are never listed


def test_a_list_refuses_a_filter_it_does_not_emulate(launch: Launch) -> None:
    served = launch()
    rules = json.dumps([{"filterId": "fullName", "value": "Ada"}])
    answer = served.client.get("/api/tasks", params={"filters": rules})
    assert (answer.status_code, answer.text) == (
        400,
        "Bad params: the sandbox does not emulate filter fullName",
    )


def test_a_lost_request_is_cut_off_and_never_applied(launch: Launch) -> None:
    served = launch(faults=Faults(p_lose=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        served.client.post("/api/tasks", json=task_body())
    assert served.applied() == []


@dataclass
class BodyInParts:
    """One request's ASGI channel: its body comes in ``parts``; ``events`` is what the app
    took (each part) and sent (each message), in order."""

    parts: list[bytes]
    events: list[str] = field(default_factory=list)

    async def receive(self) -> Message:
        self.events.append("body part")
        part = self.parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(self.parts)}

    async def send(self, message: Message) -> None:
        self.events.append(message["type"])


async def test_a_lost_request_is_read_whole_before_its_reply_is_cut_off() -> None:
    # A server that closes a connection with bytes of the request still unread resets it:
    # the client would see ReadError (a reset), not RemoteProtocolError (a reply cut off).
    sandbox = Sandbox(faults=Faults(p_lose=1.0))
    body = json.dumps(task_body()).encode()
    channel = BodyInParts([body[:20], body[20:]])
    headers = [(b"authorization", basic(":k")["Authorization"].encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/tasks", "headers": headers}

    await sandbox(scope, channel.receive, channel.send)

    assert channel.events == [
        "body part",
        "body part",
        "http.response.start",
        "http.response.body",
    ]
    assert sandbox.applied == []
