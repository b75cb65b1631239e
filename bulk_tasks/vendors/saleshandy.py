"""Saleshandy: create one task for many prospects (POST /v1/tasks/create, seed 002).

A row names one task and one or more prospects; each prospect is a line of its own. Lines
that ask for the same task (type, priority, due date, note) travel together, up to 100
prospects a request, and the answer says per prospect whether it got a task
(``payload.results[]`` of ``{prospectId, taskId, success}``).

The seed contradicts itself on task types: its prose says "Email (1), LinkedIn (2), and
General (13)", its schema's enum says 2-6, 9, 11-18 with other meanings. The enum is the
contract; the prose's words are refused with the list of what is accepted.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, ClassVar

from pydantic import BeforeValidator

from ..results import Outcome, Status
from ..rows.cells import ID_SEPARATORS, CellProblem, Day, Form, Text, read_items, split_list
from ..rows.inputs import Cell, cell_text
from .base import (
    Answer,
    Ask,
    Json,
    Request,
    Spec,
    Vendor,
    Verdict,
    json_or_text,
    retry_after_seconds,
    retryable,
)

log = logging.getLogger(__name__)

PATH = "/v1/tasks/create"
#: the seed's enum, code -> label
TASK_TYPES = {
    "2": "LinkedIn connection request",
    "3": "LinkedIn message",
    "4": "LinkedIn InMail",
    "5": "LinkedIn view profile",
    "6": "LinkedIn post interaction",
    "9": "Custom",
    "11": "Call introduction",
    "12": "Call demo",
    "13": "Call follow-up",
    "14": "Call reminder",
    "15": "Call other",
    "16": "WhatsApp message",
    "17": "WhatsApp voice message",
    "18": "WhatsApp voice call",
}
PRIORITIES = {"1": "Urgent", "2": "High", "3": "Medium", "4": "Low"}
#: the docs give no maximum; Saleshandy's other bulk endpoints take at most 100
MOST_PROSPECTS = 100
DUE_TODAY = "due today (Saleshandy's default)"

_LOOSE = re.compile(r"[\s_\-]+")
_PROSPECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_ONLY_IN_PROSE = {"1", "email", "general"}


def _loose(text: str) -> str:
    return _LOOSE.sub("", text).lower()


_TYPE_BY_NAME = {_loose(label): code for code, label in TASK_TYPES.items()}
_PRIORITY_BY_NAME = {_loose(label): code for code, label in PRIORITIES.items()}


def _choices(table: Mapping[str, str]) -> str:
    return ", ".join(f"{code} ({label})" for code, label in table.items())


# --- cell readers ---------------------------------------------------------------------------


def _prospect_id(text: str) -> str:
    if not _PROSPECT_ID.fullmatch(text):
        raise CellProblem(
            "is not a Saleshandy prospect id; ids look like 8PvBmrB7P7: copy them from "
            "Saleshandy, separated by commas, semicolons, spaces or new lines"
        )
    return text


def _prospect_ids(value: Cell) -> tuple[str, ...]:
    ids = read_items(value, _prospect_id, ID_SEPARATORS)
    if not ids:
        raise CellProblem("is empty; every task needs one")
    return ids


def _task_type(value: Cell) -> str:
    text = cell_text(value).strip()
    code = text if text in TASK_TYPES else _TYPE_BY_NAME.get(_loose(text))
    if code is not None:
        return code
    prose = _loose(text) in _ONLY_IN_PROSE
    where = " (the docs name Email (1) and General in passing; the API takes neither)"
    raise CellProblem(
        f"is not a Saleshandy task type{where if prose else ''}; write a code or its label: "
        + _choices(TASK_TYPES)
    )


def _priority(value: Cell) -> str:
    text = cell_text(value).strip()
    code = text if text in PRIORITIES else _PRIORITY_BY_NAME.get(_loose(text))
    if code is None:
        raise CellProblem(
            f"is not a Saleshandy priority; write {_choices(PRIORITIES)}, or leave it blank"
        )
    return code


ProspectIds = Annotated[
    tuple[str, ...],
    BeforeValidator(_prospect_ids),
    Form(
        says="one or more Saleshandy prospect ids, separated by commas, semicolons, spaces or "
        "new lines; an id written twice in a row is sent once",
        example="8PvBmrB7P7, Xy7Rt2Vb",
    ),
]
TaskType = Annotated[
    str,
    BeforeValidator(_task_type),
    Form(
        says="a code or its label, in any case and spacing: " + _choices(TASK_TYPES),
        example="Call demo",
    ),
]
Priority = Annotated[
    str,
    BeforeValidator(_priority),
    Form(says=f"{_choices(PRIORITIES)}: a code or its label", example="High", blank="no priority"),
]
DueDay = Annotated[Day, Form(blank=f"{DUE_TODAY}; the created lines say so")]
Note = Annotated[Text, Form(example="Mention the webinar")]


class SaleshandyCreate(Spec):
    """POST /v1/tasks/create (seed 002): one task for each of the row's prospects."""

    target: ClassVar[str] = "saleshandy"
    action: ClassVar[str] = "create"
    aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "prospectIds": ("prospectId", "Prospect ID(s)")
    }
    required: ClassVar[tuple[str, ...]] = ("prospectIds", "taskType")
    about: ClassVar[str] = "one task for each prospect of the row, a results line for each"

    #: as written, repeats included: :meth:`Saleshandy.asks` sends each once and says so
    prospectIds: ProspectIds
    taskType: TaskType
    priority: Priority | None = None
    dueDate: DueDay | None = None
    taskNote: Note | None = None


# --- requests and answers -------------------------------------------------------------------


def _task_body(spec: SaleshandyCreate) -> Json:
    optional: dict[str, str | date | None] = {
        "priority": spec.priority,
        "dueDate": spec.dueDate,
        "taskNote": spec.taskNote,
    }
    body: Json = {"taskType": spec.taskType}
    for name, value in optional.items():
        if value is not None:
            body[name] = value.isoformat() if isinstance(value, date) else value
    return body


class Saleshandy(Vendor):
    name: ClassVar[str] = "saleshandy"
    title: ClassVar[str] = "Saleshandy"
    base_url: ClassVar[str] = "https://open-api.saleshandy.com"
    key_env: ClassVar[str] = "SALESHANDY_API_KEY"
    key_hint: ClassVar[str] = "create one in Saleshandy under Settings > API Key"
    #: Saleshandy documents no limit: the mission's 20 per 2 s
    limit: ClassVar[int] = 20
    period: ClassVar[float] = 2.0
    specs: ClassVar[tuple[type[Spec], ...]] = (SaleshandyCreate,)
    line_noun: ClassVar[str] = "prospects"
    most_per_request: ClassVar[int] = MOST_PROSPECTS
    no_lookup: ClassVar[str] = (
        "Saleshandy's API has no way to list a prospect's tasks, so it cannot be looked up: "
        "open prospect {subject} in Saleshandy and look for this task; if it is missing, run "
        "again with --resume --retry-unknown"
    )
    #: Saleshandy's API has no update: its tasks are changed in its app
    edit_elsewhere: ClassVar[str] = "in Saleshandy's app, on the prospect's tasks"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def asks(self, spec: Spec) -> tuple[Ask, ...]:
        if not isinstance(spec, SaleshandyCreate):
            raise TypeError(f"not a Saleshandy spec: {type(spec).__name__}")
        task = _task_body(spec)
        times = Counter(spec.prospectIds)
        return tuple(
            Ask(
                Request("POST", PATH, {"prospectIds": [prospect], **task}),
                subject=prospect,
                notes=_repeated(prospect, times[prospect]),
            )
            for prospect in times  # a Counter keeps the order ids were first written in
        )

    def named(self, values: Mapping[str, Cell]) -> tuple[str, ...]:
        ids = split_list(values.get("prospectIds", ""), ID_SEPARATORS)
        return tuple(dict.fromkeys(ids)) or ("",)

    def pack_key(self, request: Request) -> str | None:
        task = {name: value for name, value in request.body.items() if name != "prospectIds"}
        return json.dumps(task, sort_keys=True, ensure_ascii=False)

    def merge(self, requests: Sequence[Request]) -> Request:
        prospects = [prospect for request in requests for prospect in request.body["prospectIds"]]
        if len(prospects) > MOST_PROSPECTS or len(set(prospects)) != len(prospects):
            raise ValueError("at most 100 distinct prospects per request")
        first = requests[0]
        return Request(first.method, first.path, {**first.body, "prospectIds": prospects})

    def subjects(self, request: Request) -> tuple[str, ...]:
        return tuple(request.body["prospectIds"])

    def read(
        self, status: int, headers: Mapping[str, str], body: bytes, *, sent: Request | None = None
    ) -> Answer:
        if sent is None:
            raise TypeError("Saleshandy answers per prospect: read() needs the request sent")
        data, text = json_or_text(body)
        if 200 <= status < 300:
            return Answer(
                verdict=Verdict.DONE,
                http_status=status,
                lines=_per_prospect(data, sent),
            )
        if status in (401, 403):
            return Answer(
                verdict=Verdict.REJECTED_KEY,
                http_status=status,
                error_code="key_rejected",
                error_message=_message(data, text) or "key rejected",
            )
        if retryable(status):
            return Answer(
                verdict=Verdict.RETRY,
                http_status=status,
                error_code=f"http_{status}",
                error_message=_message(data, text),
                retry_after=retry_after_seconds(headers.get("retry-after")),
            )
        code = _code(data) or f"http_{status}"
        message = _message(data, text) or f"HTTP {status}"
        return Answer(
            verdict=Verdict.FAILED,
            http_status=status,
            error_code=code,
            error_message=f"Saleshandy refused the request: {message}; fix the row, then run "
            "again with --resume --retry-failed",
        )


def _repeated(prospect: str, times: int) -> tuple[str, ...]:
    if times == 1:
        return ()
    return (f"prospect {prospect} appears {times} times in this row; it was sent once",)


def _per_prospect(data: Json | None, sent: Request) -> tuple[Outcome, ...]:
    """An outcome for every prospect sent, in the order sent."""
    results = (data or {}).get("payload", {}) if isinstance(data, dict) else {}
    listed = results.get("results") if isinstance(results, dict) else None
    found: dict[str, Json] = {}
    for result in listed if isinstance(listed, list) else []:
        if isinstance(result, dict):
            found.setdefault(str(result.get("prospectId", "")), result)
    subjects = sent.body["prospectIds"]
    for stray in found.keys() - set(subjects):
        log.warning(
            "Saleshandy answered for prospect %s, which that request did not carry; ignored",
            stray,
        )
    due_default = "dueDate" not in sent.body
    return tuple(_prospect_line(found.get(prospect), due_default) for prospect in subjects)


def _prospect_line(result: Json | None, due_default: bool) -> Outcome:
    if result is None:
        return Outcome(
            status=Status.UNKNOWN,
            error_code="no_result",
            error_message="Saleshandy accepted the request but its answer has no result for "
            "this prospect: it may or may not have the task; check the prospect in "
            "Saleshandy before sending it again with --resume --retry-unknown",
        )
    task_id = result.get("taskId")
    if result.get("success") is True:
        notes = [DUE_TODAY] if due_default else []
        if not task_id:
            notes.append("Saleshandy reported success without a task id")
        return Outcome(
            status=Status.CREATED, remote_id=str(task_id or ""), error_message="; ".join(notes)
        )
    reason = _message(result, "")
    return Outcome(
        status=Status.FAILED,
        error_code=_code(result) or "not_created",
        error_message=(
            f"Saleshandy did not create this task for this prospect: {reason}"
            if reason
            else "Saleshandy did not create this task for this prospect (no reason given): "
            "check the prospect id"
        ),
    )


def _message(data: Json | None, text: str) -> str:
    if data:
        for name in ("message", "reason", "error", "errorMessage"):
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return text


def _code(data: Json | None) -> str:
    if data:
        for name in ("code", "errorCode"):
            value = data.get(name)
            if isinstance(value, str | int) and str(value).strip():
                return str(value).strip()
    return ""


SALESHANDY = Saleshandy()
