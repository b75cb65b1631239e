"""Attio's client side: every input rule with its message, the body, the answers."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bulk_tasks.results import Facts, NamedCells, Status, render_message
from bulk_tasks.rows.cells import Reading
from bulk_tasks.rows.inputs import Cell
from bulk_tasks.sending.sender import Delivery, Sender
from bulk_tasks.sending.transport import open_client
from bulk_tasks.sending.window import Rate, RetryPolicy
from bulk_tasks.vendors.attio import ATTIO, AttioCreate
from bulk_tasks.vendors.base import Request, Verdict, check

PERSON = "891dcbfc-9141-415d-9b2a-2238a6cc012d"
MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"


def data(reading: Reading | None = None, **cells: Cell) -> dict[str, Any]:
    row: dict[str, Cell] = {"content": "Follow up on current software solutions"}
    row |= cells
    verdict = check(
        AttioCreate, {k: v for k, v in row.items() if v != ""}, reading=reading or Reading()
    )
    assert isinstance(verdict, AttioCreate), verdict
    request = ATTIO.build(verdict)
    assert (request.method, request.path) == ("POST", "/v2/tasks")
    return request.body["data"]  # type: ignore[no-any-return]


def problem(**cells: Cell) -> tuple[str, str]:
    row: dict[str, Cell] = {"content": "Call"} | cells
    verdict = check(AttioCreate, {k: v for k, v in row.items() if v != ""}, reading=Reading())
    assert isinstance(verdict, list), verdict
    [found] = verdict
    return found.field, found.message


# --- content -------------------------------------------------------------------------------------


def test_a_row_with_content_only_sends_all_six_fields() -> None:
    assert data() == {
        "content": "Follow up on current software solutions",
        "format": "plaintext",
        "deadline_at": None,
        "is_completed": False,
        "linked_records": [],
        "assignees": [],
    }


def test_content_is_required() -> None:
    assert problem(content="") == ("content", "is empty; every task needs one")


def test_content_over_2000_characters_says_its_length() -> None:
    assert problem(content="x" * 2431) == (
        "content",
        "is 2,431 characters; Attio takes at most 2,000: shorten it",
    )
    assert data(content="y" * 2000)["content"] == "y" * 2000


# --- deadline_at, is_completed -----------------------------------------------------------------


def test_the_deadline_is_sent_as_iso_8601_utc() -> None:
    assert data(deadline_at="2026-12-01 09:30")["deadline_at"] == "2026-12-01T09:30:00.000Z"
    paris = Reading(timezone=ZoneInfo("Europe/Paris"))
    assert data(paris, deadline_at="2026-12-01 09:30")["deadline_at"] == "2026-12-01T08:30:00.000Z"


def test_an_excel_date_cell_is_a_deadline() -> None:
    cell = datetime(2026, 12, 3, 15, 0)
    assert data(deadline_at=cell)["deadline_at"] == "2026-12-03T15:00:00.000Z"


def test_a_bad_deadline_is_explained() -> None:
    field, message = problem(deadline_at="next tuesday")
    assert field == "deadline_at"
    assert message.startswith("is not a date; write it as 2026-04-03")


@pytest.mark.parametrize(
    ("written", "done"),
    [("true", True), ("Yes", True), ("1", True), ("x", True), ("no", False), ("0", False)],
)
def test_is_completed_words(written: str, done: bool) -> None:
    assert data(is_completed=written)["is_completed"] is done


def test_is_completed_refuses_other_words() -> None:
    assert problem(is_completed="maybe") == (
        "is_completed",
        "is not yes or no; write true/false, yes/no, 1/0, or x for done",
    )


# --- linked_records ---------------------------------------------------------------------------


def test_addresses_and_domains_are_sent_as_strings() -> None:
    cell = "person@company.com, fundstack.com;\nAcme.io"
    assert data(linked_records=cell)["linked_records"] == [
        "person@company.com",
        "fundstack.com",
        "acme.io",
    ]


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("josé@exämple.es", "josé@exämple.es"),
        ("Jane@EXÄMPLE.es", "Jane@EXÄMPLE.es"),  # an address goes as written
        ("ops@xn--exmple-cua.de", "ops@xn--exmple-cua.de"),
        ("exämple.de", "exämple.de"),
        ("EXÄMPLE.DE", "exämple.de"),  # a domain goes in lower case
        ("xn--exmple-cua.de", "xn--exmple-cua.de"),
        ("пример.рф", "пример.рф"),
        ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_international_names_are_welcome_in_addresses_and_domains_alike(
    written: str, sent: str
) -> None:
    assert data(linked_records=written)["linked_records"] == [sent]


@pytest.mark.parametrize(
    "written",
    [
        "ex_ämple.de",
        "josé@ex_ämple.de",
        "exämple-.de",
        "josé@exämple-.de",
        "xn--zz.de",
        "ops@xn--zz.de",
        "exämple.de.",
        "bob@192.168.0.1",
    ],
)
def test_a_name_that_breaks_the_rules_is_refused_the_same_way_in_either(written: str) -> None:
    assert problem(linked_records=written) == (
        "linked_records",
        "is not an email address (a person), a domain such as acme.com (a company), or "
        "object:record-id such as people:891dcbfc-9141-415d-9b2a-2238a6cc012d",
    )


def test_an_assignee_may_have_an_international_address() -> None:
    assert data(assignees="josé@exämple.es")["assignees"] == [
        {"workspace_member_email_address": "josé@exämple.es"}
    ]
    assert problem(assignees="josé@ex_ämple.es")[0] == "assignees"


def test_record_ids_are_sent_as_objects() -> None:
    cell = f"people:{PERSON}\ncompanies:{MEMBER.upper()}; my_projects:{PERSON}"
    assert data(linked_records=cell)["linked_records"] == [
        {"target_object": "people", "target_record_id": PERSON},
        {"target_object": "companies", "target_record_id": MEMBER},
        {"target_object": "my_projects", "target_record_id": PERSON},
    ]


def test_a_mixed_cell_is_sent_wholly_as_objects() -> None:
    cell = f"alice@acme.com, acme.com, deals:{PERSON}"
    assert data(linked_records=cell)["linked_records"] == [
        {"target_object": "people", "email_addresses": [{"email_address": "alice@acme.com"}]},
        {"target_object": "companies", "domains": [{"domain": "acme.com"}]},
        {"target_object": "deals", "target_record_id": PERSON},
    ]


@pytest.mark.parametrize(
    ("item", "hint"),
    [
        ("Acme Corp", ""),
        ("people:12345", ""),
        ("localhost", ""),
        ("https://acme.com", " (write the bare domain, without http:// or www.)"),
        ("www.acme.com/about", " (write the bare domain, without http:// or www.)"),
    ],
)
def test_anything_else_in_linked_records_is_named(item: str, hint: str) -> None:
    assert problem(linked_records=f"ok@acme.com, {item}") == (
        "linked_records",
        f'holds "{item}", which is not an email address (a person), a domain such as acme.com '
        "(a company), or object:record-id such as people:891dcbfc-9141-415d-9b2a-2238a6cc012d"
        + hint,
    )


# --- assignees ----------------------------------------------------------------------------------


def test_assignees_by_email_or_actor_id() -> None:
    assert data(assignees=f"alice@attio.com; {MEMBER}")["assignees"] == [
        {"workspace_member_email_address": "alice@attio.com"},
        {"referenced_actor_type": "workspace-member", "referenced_actor_id": MEMBER},
    ]


def test_an_assignee_that_is_neither_is_named() -> None:
    assert problem(assignees=f"{MEMBER}; Alice Martin") == (
        "assignees",
        'holds "Alice Martin", which is not a workspace member\'s email address or actor id '
        "(such as 50cf242c-7fa3-4cad-87d0-75b1af71c57b)",
    )
    assert problem(assignees="Alice Martin") == (
        "assignees",
        "is not a workspace member's email address or actor id "
        "(such as 50cf242c-7fa3-4cad-87d0-75b1af71c57b)",
    )


def test_headers_with_other_spellings_feed_the_fields() -> None:
    from bulk_tasks.rows.columns import map_columns

    columns = map_columns(
        ["Content", "Deadline", "Completed", "Linked Records", "Assignees"], AttioCreate
    )
    assert set(columns.columns) == {
        "content",
        "deadline_at",
        "is_completed",
        "linked_records",
        "assignees",
    }


# --- answers -------------------------------------------------------------------------------------

SENT = Request("POST", "/v2/tasks", {"data": {"content": "x"}})
TASK_ID = "649e34f4-c39a-4f4d-99ef-48a36bef8f04"


def error(status: int, kind: str, code: str, message: str) -> bytes:
    body = {"status_code": status, "type": kind, "code": code, "message": message}
    return json.dumps(body).encode()


def test_the_task_id_is_the_remote_id() -> None:
    body = {"data": {"id": {"workspace_id": "w", "task_id": TASK_ID}}}
    answer = ATTIO.read(200, {}, json.dumps(body).encode(), sent=SENT)
    assert (answer.verdict, answer.remote_id) == (Verdict.DONE, TASK_ID)


def test_a_validation_error_fails_the_row_with_attios_code_and_message() -> None:
    body = error(
        400,
        "invalid_request_error",
        "validation_type",
        "Only standard or custom object records can be linked to.",
    )
    answer = ATTIO.read(400, {}, body, sent=SENT)
    assert answer.verdict is Verdict.FAILED
    assert answer.error_code == "validation_type"
    assert answer.error_message == (
        "Attio refused it: Only standard or custom object records can be linked to; fix the "
        "row, then run again with --resume --retry-failed"
    )


def test_not_found_says_to_check_the_linked_records() -> None:
    body = error(
        404, "invalid_request_error", "not_found", 'Object with slug/ID "people" not found.'
    )
    answer = ATTIO.read(404, {}, body, sent=SENT)
    assert answer.error_code == "not_found"
    # the message names the fields; the run words them by the user's own columns
    # (test_attio_e2e, test_messages)
    assert answer.cells == NamedCells(
        ("linked_records", "assignees"), then=", then run again with --resume --retry-failed"
    )
    facts = Facts(said=answer.error_message, cells=answer.cells)
    assert render_message(facts) == (
        'Attio refused it: Object with slug/ID "people" not found; no record or workspace '
        "member matches it: check the linked_records and assignees cells, then run again with "
        "--resume --retry-failed"
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key(status: int) -> None:
    body = error(status, "auth_error", "unauthorized", "Authentication failed.")
    assert ATTIO.read(status, {}, body, sent=SENT).verdict is Verdict.REJECTED_KEY


RATE_LIMITED = error(429, "rate_limit_error", "rate_limit_exceeded", "Rate limit exceeded")


def test_retry_after_is_measured_against_the_answers_own_date() -> None:
    # the server's clock says 2020; ours says otherwise: only the difference counts
    headers = {
        "date": "Wed, 01 Jan 2020 12:00:00 GMT",
        "retry-after": "Wed, 01 Jan 2020 12:00:01 GMT",
    }
    answer = ATTIO.read(429, headers, RATE_LIMITED, sent=SENT)
    assert (answer.verdict, answer.retry_after, answer.error_code) == (
        Verdict.RETRY,
        1.0,
        "rate_limit_exceeded",
    )


def test_retry_after_in_the_past_of_the_answers_date_is_no_wait() -> None:
    headers = {
        "date": "Wed, 01 Jan 2020 12:00:05 GMT",
        "retry-after": "Wed, 01 Jan 2020 12:00:01 GMT",
    }
    assert ATTIO.read(429, headers, RATE_LIMITED, sent=SENT).retry_after == 0.0


def test_without_a_date_header_the_local_clock_is_used() -> None:
    past = {"retry-after": "Wed, 01 Jan 2020 12:00:01 GMT"}
    assert ATTIO.read(429, past, RATE_LIMITED, sent=SENT).retry_after == 0.0
    future = {"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}
    assert ATTIO.read(429, future, RATE_LIMITED, sent=SENT).retry_after > 10**9


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(status: int) -> None:
    assert ATTIO.read(status, {}, b"Internal Server Error", sent=SENT).verdict is Verdict.RETRY


def test_the_key_is_a_bearer_token() -> None:
    assert ATTIO.auth_headers("s3cret") == {"Authorization": "Bearer s3cret"}


# --- the wait, as the sender takes it ------------------------------------------------------------


def sender_answering(*replies: httpx.Response, retry: RetryPolicy, arrivals: list[float]) -> Sender:
    """A sender to an Attio that answers ``replies``, then creates; ``arrivals`` gets the
    loop's time as each request reaches it."""
    queue = list(replies)

    async def handle(request: httpx.Request) -> httpx.Response:
        arrivals.append(asyncio.get_running_loop().time())
        if queue:
            return queue.pop(0)
        body = {"data": {"id": {"workspace_id": "w", "task_id": TASK_ID}}}
        return httpx.Response(200, json=body)

    return Sender(
        client=open_client(connections=4, timeout=5, transport=httpx.MockTransport(handle)),
        vendor=ATTIO,
        key="k",
        base_url="https://api.test",
        rate=Rate(25, 1.0),
        retry=retry,
    )


FAST = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


async def test_a_skewed_server_clock_neither_stalls_nor_hammers() -> None:
    skewed = httpx.Response(
        429,
        content=RATE_LIMITED,
        headers={
            "Date": "Wed, 01 Jan 2020 12:00:00 GMT",
            "Retry-After": "Wed, 01 Jan 2020 12:00:01 GMT",
        },
    )
    arrivals: list[float] = []
    sender = sender_answering(skewed, retry=FAST, arrivals=arrivals)
    [outcome] = await sender.send(Delivery(SENT, creates=True))
    assert (outcome.status, outcome.remote_id, outcome.attempts) == (Status.CREATED, TASK_ID, 2)
    # the one second the server asked, by its own clock: not six years, nor at once
    assert 0.95 <= arrivals[1] - arrivals[0] < 10


async def test_a_wait_beyond_the_policys_cap_is_not_believed() -> None:
    far = httpx.Response(
        429,
        content=RATE_LIMITED,
        headers={
            "Date": "Wed, 01 Jan 2020 12:00:00 GMT",
            "Retry-After": "Wed, 01 Jan 2020 13:00:00 GMT",
        },
    )
    capped = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, longest_retry_after=0.2)
    arrivals: list[float] = []
    [outcome] = await sender_answering(far, retry=capped, arrivals=arrivals).send(
        Delivery(SENT, creates=True)
    )
    assert outcome.status is Status.CREATED
    assert 0.19 <= arrivals[1] - arrivals[0] < 60  # the cap, not the hour asked for
