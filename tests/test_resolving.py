"""Looking a task up: the vendors' list requests, what matches, and what each line becomes."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bulk_tasks.job.resolver import Resolver, Unresolved
from bulk_tasks.job.summary import Resolved
from bulk_tasks.results import Outcome, Status
from bulk_tasks.rows.inputs import Row
from bulk_tasks.rows.rules import Line
from bulk_tasks.sending.sender import Sender
from bulk_tasks.sending.transport import open_client
from bulk_tasks.sending.window import Rate, RetryPolicy
from bulk_tasks.vendors.attio import ATTIO
from bulk_tasks.vendors.base import Ask, Request
from bulk_tasks.vendors.lemlist import LEMLIST

USER = "usr_7YzNqVRMCfdeHEzMn"
MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
PERSON = "891dcbfc-9141-415d-9b2a-2238a6cc012d"
NO_ANSWER = Outcome(status=Status.UNKNOWN, error_code="no_answer", error_message="no answer")


def lemlist_create(n: int = 1, title: str = "Call") -> Request:
    lead = f"lea_{n:017d}"
    body = {"recordId": lead, "leadId": lead, "type": "phone", "assignedTo": USER}
    return Request(
        "POST", "/api/tasks", body | {"dueDate": "2026-12-01T09:00:00.000Z", "title": title}
    )


def listed(request: Request, **changes: Any) -> dict[str, Any]:
    """The task lemlist would list for ``request``."""
    body = request.body
    task = {"_id": "opp_Found000000000001", "leadId": body["recordId"], "type": body["type"]}
    task |= {"userId": body["assignedTo"], "dueDate": body["dueDate"], "title": body["title"]}
    return task | {"content": ""} | changes


def test_lemlist_lists_by_assignee_type_and_a_day_either_side_of_the_due_date() -> None:
    page = LEMLIST.finder(lemlist_create()).page(2)  # type: ignore[union-attr]
    url = urlsplit(page.path)
    query = parse_qs(url.query)
    assert (page.method, url.path, query["page"]) == ("GET", "/api/tasks", ["2"])
    assert json.loads(query["filters"][0]) == [
        {"filterId": "assignedTo", "in": [USER]},
        {"filterId": "type", "in": ["phone"]},
        {"filterId": "dueDate", "from": "2026-11-30", "to": "2026-12-02"},
    ]


def test_a_lemlist_task_matches_on_lead_type_assignee_due_moment_title_and_message() -> None:
    sent = lemlist_create()
    finder = LEMLIST.finder(sent)
    assert finder is not None
    assert finder.matches(listed(sent))
    assert finder.matches(listed(sent, dueDate="2026-12-01T10:00:00+01:00"))  # the same moment
    assert not finder.matches(listed(sent, dueDate="2026-12-01T09:00:01.000Z"))
    assert not finder.matches(listed(sent, leadId="lea_00000000000000099"))
    assert not finder.matches(listed(sent, title="Call back"))
    assert not finder.matches(listed(sent, content="a message the row did not send"))
    assert finder.matches(listed(sent, leadId=None, contactId=sent.body["recordId"]))
    assert LEMLIST.finder(Request("PATCH", "/api/tasks", {"id": "opp_x"})) is None


def test_attio_lists_by_the_first_record_and_assignee_sent_by_id() -> None:
    links = ["ada@example.com", {"target_object": "people", "target_record_id": PERSON}]
    data = {"content": "Call", "format": "plaintext", "deadline_at": None, "is_completed": False}
    data |= {"linked_records": links, "assignees": [{"referenced_actor_id": MEMBER}]}
    finder = ATTIO.finder(Request("POST", "/v2/tasks", {"data": data}))
    assert finder is not None
    query = parse_qs(urlsplit(finder.page(1).path).query)
    assert query == {
        "limit": ["500"],
        "offset": ["500"],
        "linked_object": ["people"],
        "linked_record_id": [PERSON],
        "assignee": [MEMBER],
        "is_completed": ["false"],
    }
    task = {
        "id": {"task_id": "t1"},
        "content_plaintext": "Call",
        "deadline_at": None,
        "is_completed": False,
        "linked_records": [{"target_record_id": "any"}, {"target_record_id": PERSON}],
        "assignees": [{"referenced_actor_id": MEMBER}],
    }
    assert finder.matches(task)
    assert not finder.matches(task | {"linked_records": task["linked_records"][1:]})
    assert not finder.matches(task | {"content_plaintext": "Call back"})
    assert not finder.matches(task | {"deadline_at": "2026-12-01T09:00:00Z"})


def line_of(request: Request, n: int, fingerprint: str = "f") -> Unresolved:
    line = Line(Row(n, ()), "", f"{fingerprint}#{n}", Ask(request))
    return Unresolved(line, NO_ANSWER)


def resolve(
    items: list[Unresolved], pages: list[list[dict[str, Any]]], *, known: set[str] | None = None
) -> tuple[dict[int, Outcome], list[int], Resolver, list[str]]:
    """Resolve ``items`` against a lemlist whose list answers ``pages`` (then empty ones)."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"results": pages[page] if page < len(pages) else []})

    async def go() -> tuple[list[tuple[Line, Outcome]], list[Unresolved], Resolver]:
        transport = httpx.MockTransport(answer)
        async with open_client(connections=2, timeout=5, transport=transport) as client:
            sender = Sender(
                client=client,
                vendor=LEMLIST,
                key="k",
                base_url="http://vendor.test",
                rate=Rate(1000, 1),
                retry=RetryPolicy(),
            )
            resolver = Resolver(
                LEMLIST, lambda _: sender, known_tasks=lambda ids: ids & (known or set()),
                recent=True,
            )  # fmt: skip
            settled, again = await resolver.resolve(items)
            return settled, again, resolver

    settled, again, resolver = asyncio.run(go())
    by_row = {line.row.number: outcome for line, outcome in settled}
    return by_row, [item.line.row.number for item in again], resolver, asked


def test_found_once_is_created_and_missing_is_sent_again() -> None:
    found, missing = lemlist_create(1), lemlist_create(2)
    by_row, again, resolver, asked = resolve(
        [line_of(found, 1), line_of(missing, 2)], [[listed(found)]]
    )
    assert by_row[1].status is Status.CREATED
    assert by_row[1].remote_id == "opp_Found000000000001"
    assert by_row[1].error_message == "no answer came when it was sent; found at lemlist afterwards"
    assert again == [2]
    assert resolver.tally == {Resolved.FOUND: 1}
    assert len(asked) == 2  # the same filters: one page with tasks, one empty, read once


def test_identical_lines_share_their_candidates() -> None:
    sent = lemlist_create(1)
    by_row, again, _, _ = resolve([line_of(sent, 1), line_of(sent, 2)], [[listed(sent)]])
    assert by_row[1].status is Status.CREATED
    assert again == [2]  # one of the two landed; the other is sent again


def test_more_candidates_than_lines_leave_it_unknown_naming_them() -> None:
    sent = lemlist_create(1)
    twice = [listed(sent), listed(sent, _id="opp_Found000000000002")]
    by_row, again, resolver, _ = resolve([line_of(sent, 1)], [twice])
    assert again == []
    assert by_row[1].status is Status.UNKNOWN
    assert by_row[1].error_message.startswith("no answer [looked up: 2 tasks at lemlist match it")
    assert "opp_Found000000000001" in by_row[1].error_message
    assert "opp_Found000000000002" in by_row[1].error_message
    assert resolver.tally == {Resolved.STILL_UNKNOWN: 1}


def test_a_task_another_line_holds_is_never_a_candidate() -> None:
    sent = lemlist_create(1)
    _, again, _, _ = resolve([line_of(sent, 1)], [[listed(sent)]], known={"opp_Found000000000001"})
    assert again == [1]


def test_a_list_that_cannot_be_read_leaves_the_line_unknown_saying_why() -> None:
    sent = lemlist_create(1)
    by_row, again, _, _ = resolve([line_of(sent, 1)], [[{"_id": "opp_x"}], "not a list"])  # type: ignore[list-item]
    assert again == []
    assert by_row[1].status is Status.UNKNOWN
    assert by_row[1].error_message == (
        "no answer [looked up: looking it up at lemlist failed: lemlist's task list was not "
        "as documented (the answer has no list of results)]"
    )
