"""Updating a task from an edited row: each vendor's fields, its edit request, its answers,
and the edit sent over real HTTP to the sandbox, whose record says what it applied."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from bulk_tasks.results import Facts, NamedCells, render_message
from bulk_tasks.rows.cells import Reading
from bulk_tasks.rows.inputs import Cell
from bulk_tasks.sandbox import Sandbox, SandboxServer
from bulk_tasks.vendors.attio import ATTIO, AttioCreate
from bulk_tasks.vendors.base import Answer, Request, Spec, Vendor, Verdict, check
from bulk_tasks.vendors.lemlist import LEMLIST, LemlistCreate
from bulk_tasks.vendors.saleshandy import SALESHANDY, SaleshandyCreate

LEAD = "lea_zUwSUPSxozD9fLVGw"
USER = "usr_7YzNqVRMCfdeHEzMn"
LEMLIST_TASK = "opp_LyXDV8KHzctQdLFpG"
ATTIO_TASK = "649e34f4-c39a-4f4d-99ef-48a36bef8f04"
MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
CREATE_AGAIN = (
    "to create it again, remove it from the task ledger (bulk-tasks ledger forget --identity "
    "with this row's key), then run again"
)


def exactly(message: str) -> str:
    """A ``match`` pattern for this message and nothing more."""
    return f"^{re.escape(message)}$"


def create(vendor: Vendor, model: type[Spec], **cells: Cell) -> Request:
    spec = check(model, cells, reading=Reading())
    assert not isinstance(spec, list), spec
    [ask] = vendor.asks(spec)
    return ask.request


def lemlist_row(**changes: Cell) -> Request:
    cells: dict[str, Cell] = {
        "recordId": LEAD,
        "type": "phone",
        "assignedTo": USER,
        "dueDate": "2026-04-03 09:30",
        "title": "Call",
    }
    return create(LEMLIST, LemlistCreate, **(cells | changes))


def attio_row(**changes: Cell) -> Request:
    cells: dict[str, Cell] = {"content": "Send the Q3 proposal", "deadline_at": "2026-04-03"}
    return create(ATTIO, AttioCreate, **(cells | changes))


# --- the fields a later row is compared with, and what an update can change -----------------


def test_lemlist_compares_the_fields_its_create_sends() -> None:
    sent = lemlist_row()
    assert LEMLIST.sent_fields(sent) == sent.body
    assert list(LEMLIST.sent_fields(sent)) == [
        "recordId",
        "leadId",
        "type",
        "assignedTo",
        "dueDate",
        "title",
    ]
    assert LEMLIST.updatable == {
        "assignedTo",
        "dueDate",
        "title",
        "message",
        "priority",
        "images",
        "videos",
    }


def test_attio_compares_the_fields_of_data_and_updates_four_of_them() -> None:
    assert list(ATTIO.sent_fields(attio_row())) == [
        "content",
        "format",
        "deadline_at",
        "is_completed",
        "linked_records",
        "assignees",
    ]
    assert ATTIO.updatable == {"deadline_at", "is_completed", "linked_records", "assignees"}


def test_saleshandy_has_no_update_and_says_where_to_edit() -> None:
    sent = create(SALESHANDY, SaleshandyCreate, prospectIds="8PvBmrB7P7", taskType="13")
    assert SALESHANDY.updatable == frozenset()
    assert dict(SALESHANDY.sent_fields(sent)) == {"prospectIds": ["8PvBmrB7P7"], "taskType": "13"}
    said = "Saleshandy has no update: change its tasks in Saleshandy's app, on the prospect's tasks"
    with pytest.raises(ValueError, match=exactly(said)):
        SALESHANDY.edit("T1", sent, {"taskType"})


# --- the edit's request ------------------------------------------------------------------------


def test_a_lemlist_edit_patches_the_changed_fields_of_the_ledgers_task() -> None:
    edited = lemlist_row(dueDate="2026-04-10 14:00", priority="high", title="Call back")

    request = LEMLIST.edit(LEMLIST_TASK, edited, {"dueDate", "title"})

    assert (request.method, request.path, request.edits) == ("PATCH", "/api/tasks", LEMLIST_TASK)
    assert request.body == {
        "id": LEMLIST_TASK,
        "dueDate": "2026-04-10T14:00:00.000Z",
        "title": "Call back",
    }


def test_a_lemlist_field_the_edited_row_leaves_blank_is_cleared() -> None:
    edited = lemlist_row(title="", type="linkedin")

    request = LEMLIST.edit(LEMLIST_TASK, edited, {"title", "message", "priority", "images"})

    assert request.body == {
        "id": LEMLIST_TASK,
        "images": [],
        "message": "",
        "priority": "",
        "title": "",
    }


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"type"}, "lemlist's update cannot change type: change it in lemlist's app"),
        (
            {"recordId", "leadId", "dueDate"},
            "lemlist's update cannot change leadId, recordId: change them in lemlist's app",
        ),
        (set(), "an edit needs a field to change"),
    ],
)
def test_a_lemlist_edit_of_what_its_update_cannot_change_is_refused(
    changed: set[str], message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        LEMLIST.edit(LEMLIST_TASK, lemlist_row(), changed)


def test_an_attio_edit_patches_only_the_changed_fields_in_attios_shape() -> None:
    edited = attio_row(deadline_at="2026-04-10 14:00", is_completed="yes", assignees=MEMBER)

    request = ATTIO.edit(ATTIO_TASK, edited, {"assignees", "deadline_at"})

    assert (request.method, request.path) == ("PATCH", f"/v2/tasks/{ATTIO_TASK}")
    assert request.edits == ATTIO_TASK
    assert request.body == {
        "data": {
            "deadline_at": "2026-04-10T14:00:00.000Z",
            "assignees": [
                {"referenced_actor_type": "workspace-member", "referenced_actor_id": MEMBER}
            ],
        }
    }


@pytest.mark.parametrize(
    ("vendor", "edit"),
    [
        (LEMLIST, LEMLIST.edit(LEMLIST_TASK, lemlist_row(), {"dueDate"})),
        (ATTIO, ATTIO.edit(ATTIO_TASK, attio_row(), {"deadline_at"})),
    ],
)
def test_an_edit_that_got_no_answer_is_not_looked_for_as_a_create(
    vendor: Vendor, edit: Request
) -> None:
    assert vendor.finder(edit) is None


def test_an_attio_edit_never_sends_the_content() -> None:
    said = "Attio's update cannot change content: change it in Attio's app"
    with pytest.raises(ValueError, match=exactly(said)):
        ATTIO.edit(ATTIO_TASK, attio_row(content="New text"), {"content", "deadline_at"})


# --- reading the answers to an edit ------------------------------------------------------------


def test_lemlist_answers_an_edit_with_the_task() -> None:
    sent = LEMLIST.edit(LEMLIST_TASK, lemlist_row(), {"dueDate"})
    body = json.dumps({"_id": LEMLIST_TASK, "type": "phone", "dueDate": "x"}).encode()

    answer = LEMLIST.read(200, {}, body, sent=sent)

    assert answer == Answer(verdict=Verdict.DONE, http_status=200, remote_id=LEMLIST_TASK)


def test_a_lemlist_edit_of_a_deleted_task_says_how_to_create_it_again() -> None:
    sent = LEMLIST.edit(LEMLIST_TASK, lemlist_row(), {"dueDate"})

    answer = LEMLIST.read(404, {}, b"Task not found", sent=sent)

    assert (answer.verdict, answer.error_code, answer.cells) == (Verdict.FAILED, "http_404", None)
    assert answer.error_message == (
        f"lemlist refused it: Task not found: lemlist has no task {LEMLIST_TASK} any more: it "
        f"was deleted in lemlist; {CREATE_AGAIN}"
    )


def attio_error(status: int, code: str, message: str) -> bytes:
    body = {"status_code": status, "type": "invalid_request_error", "code": code}
    return json.dumps(body | {"message": message}).encode()


def test_attio_answers_an_edit_with_the_task() -> None:
    sent = ATTIO.edit(ATTIO_TASK, attio_row(), {"deadline_at"})
    body = json.dumps({"data": {"id": {"workspace_id": "w", "task_id": ATTIO_TASK}}}).encode()

    answer = ATTIO.read(200, {}, body, sent=sent)

    assert answer == Answer(verdict=Verdict.DONE, http_status=200, remote_id=ATTIO_TASK)


def test_an_attio_edit_of_a_deleted_task_says_how_to_create_it_again() -> None:
    sent = ATTIO.edit(ATTIO_TASK, attio_row(), {"deadline_at", "is_completed"})
    gone = attio_error(404, "not_found", f'Task with ID "{ATTIO_TASK}" not found.')

    answer = ATTIO.read(404, {}, gone, sent=sent)

    assert (answer.verdict, answer.error_code, answer.cells) == (Verdict.FAILED, "not_found", None)
    assert answer.error_message == (
        f'Attio refused it: Task with ID "{ATTIO_TASK}" not found; Attio has no task '
        f"{ATTIO_TASK} any more: it was deleted in Attio; {CREATE_AGAIN}"
    )


def test_an_attio_edit_that_links_records_names_them_too_when_something_is_not_found() -> None:
    sent = ATTIO.edit(ATTIO_TASK, attio_row(assignees="bob@attio.invalid"), {"assignees"})
    gone = attio_error(404, "not_found", 'Workspace member "bob@attio.invalid" not found.')

    answer = ATTIO.read(404, {}, gone, sent=sent)

    then = ", then run again with --resume --retry-failed"
    assert answer.cells == NamedCells(("assignees",), then=then)
    assert render_message(Facts(said=answer.error_message, cells=answer.cells)) == (
        'Attio refused it: Workspace member "bob@attio.invalid" not found; Attio has no task '
        f"{ATTIO_TASK} any more: it was deleted in Attio; {CREATE_AGAIN}; or else no record "
        "or workspace member matches it: check the assignees cell, then run again with "
        "--resume --retry-failed"
    )


# --- over real HTTP, against the sandbox's record ---------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(demo_tasks=False)) as running:
        yield running


def send(server: SandboxServer, vendor: Vendor, request: Request, key: str) -> Answer:
    headers = vendor.auth_headers(key)
    with httpx.Client(base_url=server.url, headers=headers, timeout=5.0) as client:
        response = client.request(request.method, request.path, json=request.body)
    return vendor.read(response.status_code, response.headers, response.content, sent=request)


def test_a_lemlist_edit_updates_the_task_the_sandbox_made(server: SandboxServer) -> None:
    created = send(server, LEMLIST, lemlist_row(), "lemlist-edit")
    edited = lemlist_row(dueDate="2026-04-10 14:00")

    answer = send(
        server, LEMLIST, LEMLIST.edit(created.remote_id, edited, {"dueDate"}), "lemlist-edit"
    )

    assert (answer.verdict, answer.remote_id) == (Verdict.DONE, created.remote_id)
    applied = [record for record in server.sandbox.applied if record.key == "lemlist-edit"]
    assert [(record.method, record.task_id) for record in applied] == [
        ("POST", created.remote_id),
        ("PATCH", created.remote_id),
    ]
    assert applied[1].body == {"id": created.remote_id, "dueDate": "2026-04-10T14:00:00.000Z"}


def test_a_lemlist_edit_of_a_task_the_sandbox_never_made_is_404(server: SandboxServer) -> None:
    answer = send(server, LEMLIST, LEMLIST.edit(LEMLIST_TASK, lemlist_row(), {"title"}), "gone")

    assert (answer.verdict, answer.http_status) == (Verdict.FAILED, 404)
    assert "it was deleted in lemlist" in answer.error_message
    assert [record for record in server.sandbox.applied if record.key == "gone"] == []


def test_an_attio_edit_updates_the_task_the_sandbox_made(server: SandboxServer) -> None:
    created = send(server, ATTIO, attio_row(), "attio-edit")
    edited = attio_row(deadline_at="2026-04-10 14:00", is_completed="yes")

    sent = ATTIO.edit(created.remote_id, edited, {"deadline_at", "is_completed"})
    answer = send(server, ATTIO, sent, "attio-edit")

    assert (answer.verdict, answer.remote_id) == (Verdict.DONE, created.remote_id)
    applied = [record for record in server.sandbox.applied if record.key == "attio-edit"]
    assert [(record.method, record.task_id) for record in applied] == [
        ("POST", created.remote_id),
        ("PATCH", created.remote_id),
    ]
    headers = ATTIO.auth_headers("attio-edit")
    [task] = httpx.get(f"{server.url}/v2/tasks", headers=headers).json()["data"]
    assert (task["content_plaintext"], task["deadline_at"], task["is_completed"]) == (
        "Send the Q3 proposal",
        "2026-04-10T14:00:00.000Z",
        True,
    )


def test_an_attio_edit_of_a_task_the_sandbox_never_made_is_404(server: SandboxServer) -> None:
    answer = send(server, ATTIO, ATTIO.edit(ATTIO_TASK, attio_row(), {"is_completed"}), "gone")

    assert (answer.verdict, answer.http_status, answer.error_code) == (
        Verdict.FAILED,
        404,
        "not_found",
    )
    assert answer.error_message.startswith(f'Attio refused it: Task with ID "{ATTIO_TASK}"')
    assert [record for record in server.sandbox.applied if record.key == "gone"] == []
