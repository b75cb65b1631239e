"""Attio: create a task (POST /v2/tasks, seed 004, Attio's own OpenAPI), and update one
(PATCH /v2/tasks/{task_id}, Attio's public "Update a task" page).

One row is one task is one request. Bearer auth; 25 write requests per second per key; a
429's ``Retry-After`` is an HTTP date (measured against the answer's own ``Date`` header,
so a skewed local clock does not matter); every error is JSON
``{status_code, type, code, message}``.

``linked_records`` takes, per the seed, either an array of strings (email addresses for
people, domains for companies) or an array of objects (``{target_object,
target_record_id}``, or a matching attribute). International names are welcome in both, an
address's domain and a company's domain checked by the same rules (IDNA); both are sent as
written, a domain in lower case: the seed asks for no other spelling, and Attio normalises
domains and the domains of addresses on its side. A cell holding only addresses and domains is
sent as strings, one holding only ``object:record-id`` pairs as objects; a cell that mixes
them is sent wholly as objects, its addresses and domains in the matching-attribute form
(``{"target_object": "people", "email_addresses": [{"email_address": …}]}``), since one
array cannot mix strings and objects.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode

from pydantic import BeforeValidator

from ..results import NamedCells
from ..rows.cells import (
    LIST_FORM,
    CellProblem,
    Form,
    When,
    YesNo,
    is_domain,
    is_email_address,
    read_items,
)
from ..rows.inputs import Cell, cell_text
from .base import (
    CREATE_AGAIN,
    Answer,
    Finder,
    Json,
    Request,
    Spec,
    Vendor,
    Verdict,
    json_or_text,
    retry_after_seconds,
    retryable,
    same_instant,
    utc_iso,
)

MOST_CHARACTERS = 2000
_SLUG = re.compile(r"[a-z][a-z0-9_-]*")
_LINK_FORMS = (
    "an email address (a person), a domain such as acme.com (a company), or object:record-id "
    "such as people:891dcbfc-9141-415d-9b2a-2238a6cc012d"
)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


# --- cell readers ---------------------------------------------------------------------------


def _content(value: Cell) -> str:
    text = cell_text(value)
    if len(text) > MOST_CHARACTERS:
        raise CellProblem(
            f"is {len(text):,} characters; Attio takes at most {MOST_CHARACTERS:,}: shorten it",
            reason=f"is over {MOST_CHARACTERS:,} characters, the most Attio takes: shorten it",
        )
    return text


def _linked_record(item: str) -> str | tuple[str, str]:
    """An address or domain as written (a domain in lower case), or an (object, record id)
    pair."""
    if is_email_address(item):
        return item
    target, colon, record = item.partition(":")
    if colon and _SLUG.fullmatch(target.strip()) and _is_uuid(record.strip()):
        return target.strip(), record.strip().lower()
    if is_domain(item):
        return item.lower()
    hint = ""
    if item.lower().startswith(("http://", "https://", "www.")):
        hint = " (write the bare domain, without http:// or www.)"
    raise CellProblem(f"is not {_LINK_FORMS}{hint}")


def _linked_records(value: Cell) -> tuple[str | tuple[str, str], ...]:
    return read_items(value, _linked_record)


def _assignee(item: str) -> str:
    if is_email_address(item) or _is_uuid(item):
        return item
    raise CellProblem(
        "is not a workspace member's email address or actor id "
        "(such as 50cf242c-7fa3-4cad-87d0-75b1af71c57b)"
    )


def _assignees(value: Cell) -> tuple[str, ...]:
    return read_items(value, _assignee)


Content = Annotated[
    str,
    BeforeValidator(_content),
    Form(
        says=f"the task's text, at most {MOST_CHARACTERS:,} characters; sent as plain text",
        example="Send the Q3 proposal",
    ),
]
LinkedRecords = Annotated[
    tuple[str | tuple[str, str], ...],
    BeforeValidator(_linked_records),
    Form(
        says="email addresses (people), domains such as acme.com (companies) and "
        "object:record-id pairs such as people:891dcbfc-9141-415d-9b2a-2238a6cc012d, " + LIST_FORM,
        example="jane@acme.com, acme.com",
    ),
]
Assignees = Annotated[
    tuple[str, ...],
    BeforeValidator(_assignees),
    Form(
        says=f"workspace members' email addresses or actor ids (uuids), {LIST_FORM}",
        example="jane@acme.com",
    ),
]
Deadline = Annotated[When, Form(blank="no deadline")]
Completed = Annotated[YesNo, Form(example="no", blank="not completed")]


class AttioCreate(Spec):
    """POST /v2/tasks (seed 004)."""

    target: ClassVar[str] = "attio"
    action: ClassVar[str] = "create"
    aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "content": ("task",),
        "deadline_at": ("deadline", "dueDate"),
        "is_completed": ("completed", "done"),
        "linked_records": ("records",),
        "assignees": ("assignee",),
    }
    required: ClassVar[tuple[str, ...]] = ("content",)

    content: Content
    deadline_at: Deadline | None = None
    is_completed: Completed = False
    linked_records: LinkedRecords = ()
    assignees: Assignees = ()


# --- requests and answers -------------------------------------------------------------------


def _links_body(links: tuple[str | tuple[str, str], ...]) -> list[object]:
    if all(isinstance(link, str) for link in links):
        return list(links)
    return [_link_object(link) for link in links]


def _link_object(link: str | tuple[str, str]) -> Json:
    if isinstance(link, tuple):
        return {"target_object": link[0], "target_record_id": link[1]}
    if "@" in link:
        return {"target_object": "people", "email_addresses": [{"email_address": link}]}
    return {"target_object": "companies", "domains": [{"domain": link}]}


def _assignee_body(assignee: str) -> Json:
    if "@" in assignee:
        return {"workspace_member_email_address": assignee}
    return {"referenced_actor_type": "workspace-member", "referenced_actor_id": assignee.lower()}


def _advice(code: str, status: int, sent: Request | None) -> tuple[str, NamedCells | None]:
    """What to do about a refusal: words, and the cells they name (None: none)."""
    if code != "not_found" and status != 404:
        return "fix the row, then run again with --resume --retry-failed", None
    check = "no record or workspace member matches it: check "
    then = ", then run again with --resume --retry-failed"
    if sent is None or not sent.edits:
        return check, NamedCells(("linked_records", "assignees"), then=then)
    deleted = f"Attio has no task {sent.edits} any more: it was deleted in Attio; {CREATE_AGAIN}"
    named = tuple(name for name in ("linked_records", "assignees") if name in sent.body["data"])
    if not named:  # the edit names no record or member: only its task can be missing
        return deleted, None
    return f"{deleted}; or else {check}", NamedCells(named, then=then)


def _answer_time(headers: Mapping[str, str]) -> datetime | None:
    """The answer's own ``Date``: the clock its Retry-After is written against."""
    try:
        when = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


#: the most tasks Attio's list endpoint gives in one page ("List tasks": limit up to 500)
PAGE_SIZE = 500


class AttioFinder(Finder):
    """A created task among Attio's tasks (``GET /v2/tasks``, "List tasks", oldest first).

    The list is narrowed by the first record linked by id and the first assignee (by id or
    email address), and by ``is_completed``; a task matches on its content, deadline and
    completion, as many linked records and assignees as were sent, and every record and
    workspace member sent by id among them. Attio lists records by id: a record linked by
    email address or domain is counted, not compared.
    """

    def page(self, number: int) -> Request:
        data = self.sent.body["data"]
        query: dict[str, object] = {"limit": PAGE_SIZE, "offset": number * PAGE_SIZE}
        linked = [link for link in data["linked_records"] if isinstance(link, dict)]
        by_id = next((link for link in linked if "target_record_id" in link), None)
        if by_id is not None:
            query["linked_object"] = by_id["target_object"]
            query["linked_record_id"] = by_id["target_record_id"]
        if data["assignees"]:
            first = data["assignees"][0]
            query["assignee"] = first.get("referenced_actor_id") or first.get(
                "workspace_member_email_address"
            )
        query["is_completed"] = "true" if data["is_completed"] else "false"
        return Request("GET", f"/v2/tasks?{urlencode(query)}", {})

    def tasks(self, body: Any) -> list[Json]:
        listed = body.get("data") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise ValueError("the answer has no list of tasks")
        return [task for task in listed if isinstance(task, dict)]

    def more(self, number: int, tasks: Sequence[Json]) -> bool:
        return len(tasks) >= PAGE_SIZE

    def matches(self, task: Json) -> bool:
        data = self.sent.body["data"]
        records = [link.get("target_record_id") for link in _listed(task, "linked_records")]
        actors = [actor.get("referenced_actor_id") for actor in _listed(task, "assignees")]
        record_ids = [
            link["target_record_id"]
            for link in data["linked_records"]
            if isinstance(link, dict) and "target_record_id" in link
        ]
        actor_ids = [
            a["referenced_actor_id"] for a in data["assignees"] if "referenced_actor_id" in a
        ]
        return (
            task.get("content_plaintext") == data["content"]
            and same_instant(task.get("deadline_at"), data["deadline_at"])
            and bool(task.get("is_completed")) == data["is_completed"]
            and len(records) == len(data["linked_records"])
            and len(actors) == len(data["assignees"])
            and all(record in records for record in record_ids)
            and all(actor in actors for actor in actor_ids)
        )

    def task_id(self, task: Json) -> str:
        ids = task.get("id")
        return str(ids.get("task_id", "")) if isinstance(ids, dict) else ""

    def describe(self, task: Json) -> str:
        return f"{self.task_id(task)} (created {task.get('created_at')})"


def _listed(task: Json, name: str) -> list[Json]:
    value = task.get(name)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class Attio(Vendor):
    name: ClassVar[str] = "attio"
    title: ClassVar[str] = "Attio"
    base_url: ClassVar[str] = "https://api.attio.com"
    key_env: ClassVar[str] = "ATTIO_API_KEY"
    key_hint: ClassVar[str] = (
        "create an access token in Attio under Workspace settings > Developers"
    )
    limit: ClassVar[int] = 25
    period: ClassVar[float] = 1.0
    specs: ClassVar[tuple[type[Spec], ...]] = (AttioCreate,)
    read_limit: ClassVar[tuple[int, float] | None] = (100, 1.0)
    #: what "Update a task" changes: never the content (nor its format)
    updatable: ClassVar[frozenset[str]] = frozenset(
        {"deadline_at", "is_completed", "linked_records", "assignees"}
    )
    edit_elsewhere: ClassVar[str] = "in Attio's app"

    def finder(self, sent: Request) -> Finder | None:
        return AttioFinder(sent) if sent.method == "POST" else None  # an edit creates nothing

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def build(self, spec: Spec) -> Request:
        if not isinstance(spec, AttioCreate):
            raise TypeError(f"not an Attio spec: {type(spec).__name__}")
        data: Json = {
            "content": spec.content,
            "format": "plaintext",
            "deadline_at": utc_iso(spec.deadline_at) if spec.deadline_at else None,
            "is_completed": spec.is_completed,
            "linked_records": _links_body(spec.linked_records),
            "assignees": [_assignee_body(assignee) for assignee in spec.assignees],
        }
        return Request("POST", "/v2/tasks", {"data": data})

    def sent_fields(self, request: Request) -> Mapping[str, object]:
        data: Json = request.body["data"]
        return data

    def _edit(self, task_id: str, sent: Request, changed: Collection[str]) -> Request:
        data = {name: value for name, value in sent.body["data"].items() if name in changed}
        return Request("PATCH", f"/v2/tasks/{task_id}", {"data": data}, task_id)

    def read(
        self, status: int, headers: Mapping[str, str], body: bytes, *, sent: Request | None = None
    ) -> Answer:
        parsed, text = json_or_text(body)
        data = parsed or {}
        code = str(data.get("code") or f"http_{status}")
        message = str(data.get("message") or text or f"HTTP {status}")
        if 200 <= status < 300:
            task = data.get("data")
            ids = task.get("id") if isinstance(task, dict) else None
            task_id = str(ids.get("task_id") or "") if isinstance(ids, dict) else ""
            note = "" if task_id else "Attio answered success without a task id"
            return Answer(
                verdict=Verdict.DONE, http_status=status, remote_id=task_id, error_message=note
            )
        if status in (401, 403):
            return Answer(
                verdict=Verdict.REJECTED_KEY,
                http_status=status,
                error_code="key_rejected",
                error_message=message,
            )
        if retryable(status):
            wait = retry_after_seconds(headers.get("retry-after"), now=_answer_time(headers))
            return Answer(
                verdict=Verdict.RETRY,
                http_status=status,
                error_code=code,
                error_message=message,
                retry_after=wait,
            )
        advice, cells = _advice(code, status, sent)
        return Answer(
            verdict=Verdict.FAILED,
            http_status=status,
            error_code=code,
            error_message=f"Attio refused it: {message.rstrip(' .')}; {advice}",
            cells=cells,
        )


ATTIO = Attio()
