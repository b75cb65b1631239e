"""Saleshandy's emulator over real HTTP: the seed's schema, per-prospect results, auth, rate."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from helpers import SEEDS

from bulk_tasks.sandbox import Applied, Faults, Sandbox, SandboxServer
from bulk_tasks.sandbox.app import request_validator

PATH = "/v1/tasks/create"
SEED_TEXT = (SEEDS / "002_c8cea53b39d3097d.txt").read_text(encoding="utf-8")
TASK_ID = re.compile(r"[A-Za-z0-9]{10}")
_fresh_keys = itertools.count()


request_schema: dict[str, Any] = request_validator("saleshandy_create").schema


def seed_json(after: str, before: str | None = None) -> Any:
    """The JSON example that follows the heading ``after`` in the seed's text."""
    start = SEED_TEXT.index(after) + len(after)
    end = SEED_TEXT.index(before, start) if before else len(SEED_TEXT)
    return json.loads(SEED_TEXT[start:end])


SEED_BODY: dict[str, Any] = seed_json("Request Body Examples", "Responses")
SEED_ANSWER: dict[str, Any] = seed_json("Responses")


def seed_enum(field: str) -> list[str]:
    """The quoted codes on the "Value in:" line that follows ``field``'s property line."""
    after = SEED_TEXT[SEED_TEXT.index(f"{field}string") :]
    line = next(line for line in after.splitlines() if "Value in:" in line)
    return re.findall(r'"(\d+)"', line.split("Value in:", 1)[1])


def body(**changes: Any) -> dict[str, Any]:
    return {"prospectIds": ["8PvBmrB7P7"], "taskType": "13"} | changes


@dataclass
class Served:
    """A running sandbox and a client of it that sends ``key`` as x-api-key."""

    sandbox: Sandbox
    url: str
    key: str
    client: httpx.Client

    def applied(self) -> list[Applied]:
        return [record for record in self.sandbox.applied if record.key == self.key]

    def create(self, payload: Any) -> httpx.Response:
        return self.client.post(PATH, json=payload)


Launch = Callable[..., Served]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Start a sandbox of its own with the given options; it stops after the test."""
    with contextlib.ExitStack() as stack:

        def start(*, timeout: float = 5.0, **options: Any) -> Served:
            server = stack.enter_context(SandboxServer(Sandbox(**options)))
            headers = {"x-api-key": "key-1"}
            client = httpx.Client(base_url=server.url, headers=headers, timeout=timeout)
            return Served(server.sandbox, server.url, "key-1", stack.enter_context(client))

        yield start


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox()) as server:
        yield server


@pytest.fixture
def api(shared_server: SandboxServer) -> Iterator[Served]:
    """The shared sandbox, with a key of this test's own so that windows never collide."""
    key = f"sh-key-{next(_fresh_keys)}"
    headers = {"x-api-key": key}
    with httpx.Client(base_url=shared_server.url, headers=headers, timeout=5.0) as client:
        yield Served(shared_server.sandbox, shared_server.url, key, client)


# --- the schema comes from the seed ---------------------------------------------------------


def test_task_type_enum_is_the_seeds_value_in_line() -> None:
    codes = seed_enum("taskType")

    assert codes == ["2", "3", "4", "5", "6", "9", "11", "12", "13", "14", "15", "16", "17", "18"]
    assert request_schema["properties"]["taskType"] == {"type": "string", "enum": codes}


def test_priority_enum_is_the_seeds_value_in_line() -> None:
    codes = seed_enum("priority")

    assert codes == ["1", "2", "3", "4"]
    assert request_schema["properties"]["priority"] == {"type": "string", "enum": codes}


def test_schema_requires_what_the_seed_marks_required_and_nothing_else() -> None:
    schema = request_schema

    assert schema["required"] == sorted(set(re.findall(r"(\w+) \(required\)", SEED_TEXT)))
    assert schema["required"] == ["prospectIds", "taskType"]
    assert set(schema["properties"]) == {
        "prospectIds",
        "taskType",
        "priority",
        "dueDate",
        "taskNote",
    }
    assert schema["additionalProperties"] is False


def test_seed_example_body_uses_only_the_schemas_properties() -> None:
    assert set(SEED_BODY) <= set(request_schema["properties"])
    assert SEED_BODY["taskType"] in seed_enum("taskType")


# --- create ---------------------------------------------------------------------------------


def test_seed_example_body_is_accepted_in_the_seeds_response_shape(api: Served) -> None:
    response = api.create(SEED_BODY)

    assert response.status_code == 201
    answer = response.json()
    assert set(answer) == set(SEED_ANSWER)
    assert answer["message"] == SEED_ANSWER["message"] == "Task created successfully"
    assert set(answer["payload"]) == set(SEED_ANSWER["payload"]) == {"results"}
    [result] = answer["payload"]["results"]
    assert set(result) == set(SEED_ANSWER["payload"]["results"][0])
    assert (result["prospectId"], result["success"]) == ("8PvBmrB7P7", True)
    assert TASK_ID.fullmatch(result["taskId"])
    [record] = api.applied()
    assert (record.method, record.task_id, record.subject) == (
        "POST",
        result["taskId"],
        "8PvBmrB7P7",
    )
    assert (record.body, record.vendor) == (SEED_BODY, "saleshandy")


def test_seed_example_answers_prospects_get_the_seeds_per_prospect_outcome(api: Served) -> None:
    expected = SEED_ANSWER["payload"]["results"]
    prospects = [result["prospectId"] for result in expected]

    results = api.create(body(prospectIds=prospects)).json()["payload"]["results"]

    assert [(r["prospectId"], r["success"]) for r in results] == [
        (r["prospectId"], r["success"]) for r in expected
    ]
    assert [r["taskId"] is None for r in results] == [r["taskId"] is None for r in expected]


def test_several_prospects_each_get_their_own_task_in_request_order(api: Served) -> None:
    prospects = [f"Pr{n}xQ2Lm" for n in range(5)]

    response = api.create(body(prospectIds=prospects, priority="1"))

    results = response.json()["payload"]["results"]
    assert response.status_code == 201
    assert [r["prospectId"] for r in results] == prospects
    assert all(r["success"] is True and TASK_ID.fullmatch(r["taskId"]) for r in results)
    assert len({r["taskId"] for r in results}) == 5
    applied = api.applied()
    assert [(a.subject, a.task_id) for a in applied] == [
        (r["prospectId"], r["taskId"]) for r in results
    ]
    assert all(a.body == body(prospectIds=prospects, priority="1") for a in applied)


def test_mixed_request_fails_invalid_omits_omit_and_creates_the_rest(api: Served) -> None:
    response = api.create(body(prospectIds=["good1", "INVALIDxx", "OMITyy", "good2"]))

    assert response.status_code == 201
    results = response.json()["payload"]["results"]
    assert [r["prospectId"] for r in results] == ["good1", "INVALIDxx", "good2"]
    assert results[1] == {"prospectId": "INVALIDxx", "taskId": None, "success": False}
    assert [r["success"] for r in results] == [True, False, True]
    applied = api.applied()
    assert [a.subject for a in applied] == ["good1", "OMITyy", "good2"]
    assert all(a.vendor == "saleshandy" for a in applied)
    omitted = applied[1].task_id
    assert TASK_ID.fullmatch(omitted)
    assert omitted not in {r["taskId"] for r in results}
    assert [applied[0].task_id, applied[2].task_id] == [results[0]["taskId"], results[2]["taskId"]]


def test_all_invalid_prospects_still_answer_201_and_apply_nothing(api: Served) -> None:
    response = api.create(body(prospectIds=["INVALID1", "INVALID2"]))

    assert response.status_code == 201
    assert [r["success"] for r in response.json()["payload"]["results"]] == [False, False]
    assert api.applied() == []


def test_exactly_100_prospects_are_accepted(api: Served) -> None:
    prospects = [f"p{n:03}" for n in range(100)]

    response = api.create(body(prospectIds=prospects))

    assert response.status_code == 201
    assert [r["prospectId"] for r in response.json()["payload"]["results"]] == prospects
    assert len(api.applied()) == 100


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(taskType="1"), "taskType"),
        (body(taskType=13), "taskType"),
        (body(priority="5"), "priority"),
        (body(priority=3), "priority"),
        (body(dueDate="22/04/2026"), "dueDate"),
        (body(dueDate="2026-02-30"), "dueDate"),
        (body(dueDate="2026-4-22"), "dueDate"),
        (body(taskNote=5), "taskNote"),
        ({"prospectIds": ["8PvBmrB7P7"]}, "taskType"),
        ({"taskType": "13"}, "prospectIds"),
        (body(prospectIds=[]), "prospectIds"),
        (body(prospectIds="8PvBmrB7P7"), "prospectIds"),
        (body(prospectIds=[123]), "prospectIds"),
        (body(prospectIds=[f"p{n:03}" for n in range(101)]), "prospectIds"),
        (body(prospectId="8PvBmrB7P7"), "prospectId"),
    ],
    ids=[
        "taskType 1",
        "taskType number",
        "priority 5",
        "priority number",
        "dueDate d/m/y",
        "dueDate Feb 30",
        "dueDate one-digit month",
        "taskNote number",
        "no taskType",
        "no prospectIds",
        "empty prospectIds",
        "prospectIds string",
        "prospectIds number item",
        "101 prospectIds",
        "extra prospectId",
    ],
)
def test_schema_refusal_is_400_naming_the_field_and_applies_nothing(
    api: Served, payload: dict[str, Any], field: str
) -> None:
    response = api.create(payload)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["error"] == "Bad Request"
    assert field in answer["message"]
    assert api.applied() == []


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([f"p{n:03}" for n in range(101)], "prospectIds: has 101 ids; at most 100 are allowed"),
        (["a1", "b2", "a1"], "prospectIds: holds an id twice"),
        ([], "prospectIds: is empty"),
    ],
)
def test_prospect_list_refusals_say_why(api: Served, ids: list[str], message: str) -> None:
    response = api.create(body(prospectIds=ids))

    assert (response.status_code, response.json()["message"]) == (400, message)
    assert api.applied() == []


def test_an_empty_prospect_id_is_refused(api: Served) -> None:
    response = api.create(body(prospectIds=["a1", ""]))

    assert response.status_code == 400
    assert response.json()["message"].startswith("prospectIds.1: ")
    assert api.applied() == []


def test_non_real_date_message_says_so(api: Served) -> None:
    response = api.create(body(dueDate="2026-02-30"))

    assert response.json()["message"] == "dueDate: '2026-02-30' is not a real date (YYYY-MM-DD)"


@pytest.mark.parametrize(
    "content", [b"prospectIds=8PvBmrB7P7&taskType=13", b"", b"{not json", b"[]", b'"text"']
)
def test_a_body_that_is_not_a_json_object_is_400(api: Served, content: bytes) -> None:
    response = api.client.post(PATH, content=content, headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {"message": "the body must be a JSON object", "error": "Bad Request"}
    assert api.applied() == []


def test_get_on_the_create_path_is_405(api: Served) -> None:
    response = api.client.get(PATH)

    assert response.status_code == 405
    assert api.sandbox.arrivals[-1].status == 405
    assert api.applied() == []


# --- auth -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(keys={"k1"})) as server:
        yield server


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": "wrong-key"},
        {"Authorization": "Bearer k1"},
    ],
    ids=["missing", "empty", "not in keys", "bearer instead"],
)
def test_bad_key_gets_401_json_and_changes_nothing(
    keyed_server: SandboxServer, headers: dict[str, str]
) -> None:
    before = len(keyed_server.sandbox.applied)
    with httpx.Client(base_url=keyed_server.url, timeout=5.0) as client:
        refused = client.post(PATH, json=body(), headers=headers)
        refused_status = keyed_server.sandbox.arrivals[-1].status
        accepted = client.post(PATH, json=body(), headers={"x-api-key": "k1"})

    assert refused.status_code == 401
    assert refused.json() == {"message": "Invalid or missing API key", "error": "Unauthorized"}
    assert refused_status == 401
    assert accepted.status_code == 201
    assert [record.key for record in keyed_server.sandbox.applied[before:]] == ["k1"]


def test_without_a_key_list_any_non_empty_key_is_accepted(api: Served) -> None:
    with httpx.Client(base_url=api.url, headers={"x-api-key": "anything-at-all"}) as client:
        assert client.post(PATH, json=body()).status_code == 201


def test_get_without_a_key_is_401_before_405(api: Served) -> None:
    assert httpx.get(f"{api.url}{PATH}").status_code == 401


# --- rate limit -----------------------------------------------------------------------------


def test_a_full_window_gets_429_json_with_retry_after_and_applies_nothing(launch: Launch) -> None:
    served = launch(limit=3, period=0.5)

    responses = [served.create(body()) for _ in range(4)]

    assert [r.status_code for r in responses] == [201, 201, 201, 429]
    refused = responses[-1]
    assert refused.json() == {
        "message": "Too many requests, please try again later",
        "error": "Too Many Requests",
    }
    assert re.fullmatch(r"\d+", refused.headers["Retry-After"])
    assert int(refused.headers["Retry-After"]) == 1  # <0.5 s left, rounded up to a whole second
    assert len(served.sandbox.applied) == 3
    assert [a.status for a in served.sandbox.arrivals] == [201, 201, 201, 429]


def test_the_window_slides_open_again(launch: Launch) -> None:
    served = launch(limit=3, period=0.5)
    statuses = [served.create(body()).status_code for _ in range(4)]
    all_gone = served.sandbox.arrivals[-1].time + 0.5 + 0.05  # refused arrivals count too
    time.sleep(max(0.0, all_gone - time.monotonic()))

    statuses.append(served.create(body()).status_code)

    assert statuses == [201, 201, 201, 429, 201]
    assert len(served.sandbox.applied) == 4


def test_windows_are_per_key(launch: Launch) -> None:
    served = launch(limit=1, period=2.0)

    first = served.create(body())
    other = httpx.post(f"{served.url}{PATH}", json=body(), headers={"x-api-key": "key-2"})
    again = served.create(body())

    assert (first.status_code, other.status_code, again.status_code) == (201, 201, 429)
    assert [a.key for a in served.sandbox.arrivals] == ["key-1", "key-2", "key-1"]


def test_windows_are_per_vendor_for_the_same_key(launch: Launch) -> None:
    served = launch(limit=1, period=2.0)

    lemlist = httpx.get(f"{served.url}/api/tasks", auth=("", "key-1"))
    saleshandy = served.create(body())
    saleshandy_again = served.create(body())
    lemlist_again = httpx.get(f"{served.url}/api/tasks", auth=("", "key-1"))

    assert lemlist.status_code == 200
    assert saleshandy.status_code == 201
    assert (saleshandy_again.status_code, lemlist_again.status_code) == (429, 429)


def test_saleshandys_default_window_is_20_per_2_seconds(launch: Launch) -> None:
    served = launch()

    statuses = [served.client.get(PATH).status_code for _ in range(21)]

    assert statuses == [405] * 20 + [429]


# --- faults ---------------------------------------------------------------------------------


def test_error_500_is_not_applied(launch: Launch) -> None:
    served = launch(faults=Faults(p_error_500=1.0))

    response = served.create(body(prospectIds=["a", "b"]))

    assert response.status_code == 500
    assert served.sandbox.applied == []


def test_spurious_429_is_json_with_retry_after_and_not_applied(launch: Launch) -> None:
    served = launch(faults=Faults(p_spurious_429=1.0))

    response = served.create(body())

    assert response.status_code == 429
    assert response.json()["error"] == "Too Many Requests"
    assert int(response.headers["Retry-After"]) >= 1
    assert served.sandbox.applied == []


def test_drop_applies_every_task_and_breaks_the_reply(launch: Launch) -> None:
    served = launch(faults=Faults(p_drop=1.0))

    with pytest.raises(httpx.RemoteProtocolError):
        served.create(body(prospectIds=["a", "INVALIDb", "OMITc"]))

    assert [a.subject for a in served.sandbox.applied] == ["a", "OMITc"]
    assert served.sandbox.arrivals[-1].status is None


def test_hang_applies_and_never_answers(launch: Launch) -> None:
    served = launch(faults=Faults(p_hang=1.0), timeout=0.3)

    with pytest.raises(httpx.ReadTimeout):
        served.create(body())

    assert [a.subject for a in served.sandbox.applied] == ["8PvBmrB7P7"]
    assert served.sandbox.arrivals[-1].status is None


def test_a_refused_body_is_not_applied_even_when_dropped(launch: Launch) -> None:
    served = launch(faults=Faults(p_drop=1.0))

    with pytest.raises(httpx.RemoteProtocolError):
        served.create(body(taskType="1"))

    assert served.sandbox.applied == []
