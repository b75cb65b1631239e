"""Attio's emulator over real HTTP: Bearer auth, the seed's schema, JSON errors, the window."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
import yaml
from helpers import SEEDS

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer
from bulk_tasks.sandbox.app import request_validator
from bulk_tasks.sandbox.attio import NIL

MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
PERSON = "891dcbfc-9141-415d-9b2a-2238a6cc012d"


def seed_operation() -> Any:
    text = (SEEDS / "004_fe36680fd2308aa3.txt").read_text("utf-8")
    block = re.search(r"^````yaml[^\n]*\n(.*?)^````", text, re.DOTALL | re.MULTILINE)
    assert block is not None
    return yaml.safe_load(block.group(1))


def task(**changes: Any) -> dict[str, Any]:
    data = {
        "content": "Follow up on current software solutions",
        "format": "plaintext",
        "deadline_at": "2023-01-01T15:00:00.000000000Z",
        "is_completed": False,
        "linked_records": ["person@company.com", "fundstack.com"],
        "assignees": [
            {"referenced_actor_type": "workspace-member", "referenced_actor_id": MEMBER},
            {"workspace_member_email_address": "alice@attio.com"},
        ],
    } | changes
    return {"data": {name: value for name, value in data.items() if value != "DROP"}}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(keys={"token-1", "token-2"})) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer token-1"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as http:
        yield http


def test_the_seed_example_is_created_in_the_seeds_response_shape(
    server: SandboxServer, client: httpx.Client
) -> None:
    before = len(server.sandbox.applied)
    answer = client.post("/v2/tasks", json=task())
    assert answer.status_code == 200
    data = answer.json()["data"]
    required = seed_operation()["components"]["schemas"]["task"]["required"]
    assert set(required) <= set(data)
    assert re.fullmatch(r"[0-9a-f-]{36}", data["id"]["task_id"])
    assert data["content_plaintext"] == "Follow up on current software solutions"
    assert [link["target_object_id"] for link in data["linked_records"]] == ["people", "companies"]
    assert data["assignees"][0] == {
        "referenced_actor_type": "workspace-member",
        "referenced_actor_id": MEMBER,
    }
    [applied] = server.sandbox.applied[before:]
    assert (applied.vendor, applied.task_id, applied.body) == (
        "attio",
        data["id"]["task_id"],
        task(),
    )


def test_links_by_record_id_and_by_matching_attribute(client: httpx.Client) -> None:
    links = [
        {"target_object": "companies", "target_record_id": PERSON},
        {"target_object": "people", "email_addresses": [{"email_address": "a@b.com"}]},
    ]
    answer = client.post("/v2/tasks", json=task(linked_records=links))
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["linked_records"][0] == {
        "target_object_id": "companies",
        "target_record_id": PERSON,
    }


def test_the_schema_is_the_seeds_own() -> None:
    seed = seed_operation()["paths"]["/v2/tasks"]["post"]["requestBody"]["content"]
    data = seed["application/json"]["schema"]["properties"]["data"]
    ours = request_validator("attio_create").schema["properties"]["data"]
    assert ours["required"] == data["required"]
    assert ours["properties"]["content"]["maxLength"] == 2000


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"content": "DROP"}, "data"),
        ({"format": "DROP"}, "data"),
        ({"deadline_at": "DROP"}, "data"),
        ({"is_completed": "DROP"}, "data"),
        ({"linked_records": "DROP"}, "data"),
        ({"assignees": "DROP"}, "data"),
        ({"format": "markdown"}, "data/format"),
        ({"deadline_at": 5}, "data/deadline_at"),
        ({"is_completed": "yes"}, "data/is_completed"),
        ({"linked_records": [{"target_object": "people", "target_record_id": "12"}]}, "data"),
        (
            {
                "linked_records": [
                    "a@b.com",
                    {"target_object": "people", "target_record_id": PERSON},
                ]
            },
            "data",
        ),
        (
            {"assignees": [{"referenced_actor_type": "api-token", "referenced_actor_id": MEMBER}]},
            "data",
        ),
    ],
)
def test_schema_refusals_are_attios_json_400(
    server: SandboxServer, client: httpx.Client, changes: dict[str, Any], where: str
) -> None:
    before = len(server.sandbox.applied)
    answer = client.post("/v2/tasks", json=task(**changes))
    assert answer.status_code == 400
    body = answer.json()
    assert (body["status_code"], body["type"], body["code"]) == (
        400,
        "invalid_request_error",
        "validation_type",
    )
    assert body["message"].startswith(f"Body payload validation error at {where}")
    assert len(server.sandbox.applied) == before


def test_content_over_2000_characters_says_its_length(client: httpx.Client) -> None:
    answer = client.post("/v2/tasks", json=task(content="x" * 2001))
    assert answer.json()["message"] == (
        "Body payload validation error at data/content: is 2001 characters, over the maximum "
        "of 2000"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"linked_records": ["ceo@hooli.invalid"]},
            'No person or company matches "ceo@hooli.invalid".',
        ),
        ({"linked_records": ["hooli.invalid"]}, 'No person or company matches "hooli.invalid".'),
        (
            {"linked_records": [{"target_object": "planets", "target_record_id": PERSON}]},
            'Object with slug/ID "planets" not found.',
        ),
        (
            {"linked_records": [{"target_object": "people", "target_record_id": NIL}]},
            f'Record with ID "{NIL}" not found.',
        ),
        (
            {"assignees": [{"workspace_member_email_address": "bob@attio.invalid"}]},
            'Workspace member "bob@attio.invalid" not found.',
        ),
    ],
)
def test_what_matches_nothing_is_a_404_not_found(
    client: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    answer = client.post("/v2/tasks", json=task(**changes))
    assert answer.status_code == 404
    assert answer.json() == {
        "status_code": 404,
        "type": "invalid_request_error",
        "code": "not_found",
        "message": message,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dG9rZW4tMQ=="},
        {"Authorization": "Bearer nope"},
    ],
)
def test_without_a_valid_bearer_token_401(server: SandboxServer, headers: dict[str, str]) -> None:
    answer = httpx.post(f"{server.url}/v2/tasks", json=task(), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    assert "date" in answer.headers


def test_a_full_window_gets_a_429_with_an_http_date_retry_after() -> None:
    with SandboxServer(Sandbox(limit=3, period=0.5)) as small:
        headers = {"Authorization": "Bearer t"}
        answers = [
            httpx.post(f"{small.url}/v2/tasks", json=task(), headers=headers) for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["type"] == "rate_limit_error"
        when = parsedate_to_datetime(refused.headers["retry-after"])
        sent = parsedate_to_datetime(refused.headers["date"])
        assert timedelta(0) <= when - sent <= timedelta(seconds=2)
        assert len(small.sandbox.applied) == 3
        assert all("date" in answer.headers for answer in answers)


def test_faults_apply_to_attio_too() -> None:
    with SandboxServer(Sandbox(faults=Faults(p_error_500=1.0))) as failing:
        answer = httpx.post(
            f"{failing.url}/v2/tasks", json=task(), headers={"Authorization": "Bearer t"}
        )
        assert answer.status_code == 500
        assert failing.sandbox.applied == []


@pytest.fixture
def fresh() -> Iterator[httpx.Client]:
    """A client of a sandbox of its own, whose task list starts empty."""
    with (
        SandboxServer(Sandbox(keys={"t"})) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as http,
    ):
        yield http


def test_tasks_are_listed_oldest_first_by_record_assignee_and_completion(
    fresh: httpx.Client,
) -> None:
    client = fresh
    other = "1b7c2f9e-3a4d-4e5f-8a6b-7c8d9e0f1a2b"
    person = [{"target_object": "people", "target_record_id": PERSON}]
    member = [{"referenced_actor_type": "workspace-member", "referenced_actor_id": MEMBER}]
    first = task(content="First", linked_records=person, assignees=member)
    second = task(content="Second", is_completed=True, assignees=member)
    third = task(
        content="Third",
        linked_records=[{"target_object": "people", "target_record_id": other}],
        assignees=[],
    )
    for body in (first, second, third):
        assert client.post("/v2/tasks", json=body).status_code == 200

    def contents(**query: str) -> list[str]:
        answer = client.get("/v2/tasks", params=query)
        assert answer.status_code == 200, answer.text
        return [listed["content_plaintext"] for listed in answer.json()["data"]]

    assert contents() == ["First", "Second", "Third"]
    assert contents(linked_object="people", linked_record_id=PERSON) == ["First"]
    assert contents(is_completed="true") == ["Second"]
    assert contents(is_completed="false") == ["First", "Third"]
    assert contents(assignee=MEMBER) == ["First", "Second"]
    assert contents(assignee="someone@else.com") == []
    assert contents(limit="2") == ["First", "Second"]
    assert contents(limit="2", offset="2") == ["Third"]
    query = {"linked_object": "people", "linked_record_id": PERSON}
    [listed] = client.get("/v2/tasks", params=query).json()["data"]
    assert listed["linked_records"] == [{"target_object_id": "people", "target_record_id": PERSON}]
    assert listed["assignees"] == member


def test_a_list_refuses_a_limit_over_500_and_a_half_link_filter(fresh: httpx.Client) -> None:
    client = fresh
    assert client.get("/v2/tasks", params={"limit": "501"}).status_code == 400
    refused = client.get("/v2/tasks", params={"linked_object": "people"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "validation_type"


def test_reads_have_their_own_window_of_100_per_second(fresh: httpx.Client) -> None:
    statuses = [fresh.get("/v2/tasks").status_code for _ in range(100)]
    # four times the 25 writes a second, all answered; and writing is not held back by them
    assert statuses == [200] * 100
    assert fresh.post("/v2/tasks", json=task()).status_code == 200


# --- PATCH /v2/tasks/{task_id}: Attio's "Update a task" page --------------------------------


def test_the_update_schema_takes_the_pages_four_fields_in_the_creates_shapes() -> None:
    create = request_validator("attio_create").schema["properties"]["data"]["properties"]
    ours = request_validator("attio_update").schema
    data = ours["properties"]["data"]
    assert ours["required"] == ["data"]
    assert "required" not in data
    assert data["additionalProperties"] is False
    updatable = ["deadline_at", "is_completed", "linked_records", "assignees"]
    assert data["properties"] == {name: create[name] for name in updatable}


def test_an_update_changes_only_the_fields_it_gives_and_is_recorded(fresh: httpx.Client) -> None:
    created = fresh.post("/v2/tasks", json=task()).json()["data"]
    task_id = created["id"]["task_id"]
    change = {"data": {"deadline_at": "2026-04-10T14:00:00.000Z", "is_completed": True}}

    answer = fresh.patch(f"/v2/tasks/{task_id}", json=change)

    assert answer.status_code == 200
    updated = answer.json()["data"]
    assert (updated["id"]["task_id"], updated["deadline_at"], updated["is_completed"]) == (
        task_id,
        "2026-04-10T14:00:00.000Z",
        True,
    )
    assert updated["completed_at"] is not None
    unchanged = ("content_plaintext", "linked_records", "assignees", "created_at")
    assert {name: updated[name] for name in unchanged} == {
        name: created[name] for name in unchanged
    }
    assert fresh.get("/v2/tasks").json()["data"] == [updated]


def test_the_sandbox_records_an_update_as_applied_to_its_task() -> None:
    with (
        SandboxServer(Sandbox(keys={"t"})) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        task_id = client.post("/v2/tasks", json=task()).json()["data"]["id"]["task_id"]
        change = {"data": {"assignees": [{"workspace_member_email_address": "bob@attio.com"}]}}
        assert client.patch(f"/v2/tasks/{task_id}", json=change).status_code == 200

        applied = server.sandbox.applied
    assert [(record.method, record.task_id, record.vendor) for record in applied] == [
        ("POST", task_id, "attio"),
        ("PATCH", task_id, "attio"),
    ]
    assert applied[1].body == change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"content": "New text"},
            "Body payload validation error at data: Additional properties are not allowed "
            "('content' was unexpected)",
        ),
        (
            {"is_completed": "yes"},
            "Body payload validation error at data/is_completed: 'yes' is not of type 'boolean'",
        ),
    ],
)
def test_an_update_refuses_what_the_page_does_not_let_it_change(
    fresh: httpx.Client, change: dict[str, Any], message: str
) -> None:
    created = fresh.post("/v2/tasks", json=task()).json()["data"]

    answer = fresh.patch(f"/v2/tasks/{created['id']['task_id']}", json={"data": change})

    assert (answer.status_code, answer.json()) == (
        400,
        {
            "status_code": 400,
            "type": "invalid_request_error",
            "code": "validation_type",
            "message": message,
        },
    )
    assert fresh.get("/v2/tasks").json()["data"] == [created]


def test_an_update_of_a_task_the_sandbox_never_made_is_a_404_not_found(
    server: SandboxServer, client: httpx.Client
) -> None:
    before = len(server.sandbox.applied)

    answer = client.patch(f"/v2/tasks/{PERSON}", json={"data": {"is_completed": True}})

    assert (answer.status_code, answer.json()) == (
        404,
        {
            "status_code": 404,
            "type": "invalid_request_error",
            "code": "not_found",
            "message": f'Task with ID "{PERSON}" not found.',
        },
    )
    assert len(server.sandbox.applied) == before


def test_an_update_counts_in_the_window_of_writes() -> None:
    with (
        SandboxServer(Sandbox(limit=2, period=60.0)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        task_id = client.post("/v2/tasks", json=task()).json()["data"]["id"]["task_id"]
        change = {"data": {"is_completed": True}}
        statuses = [client.patch(f"/v2/tasks/{task_id}", json=change).status_code for _ in "ab"]
        listed = client.get("/v2/tasks").status_code  # reads have a window of their own

    assert (statuses, listed) == ([200, 429], 200)
