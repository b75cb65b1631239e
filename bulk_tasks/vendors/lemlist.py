"""lemlist: create (POST /api/tasks, seed 000) and update (PATCH /api/tasks, seeds 001, 003).

One row is one task is one request. Basic auth with an empty user and the key as password;
20 requests per 2 s per key; errors are plain text ("Bad params") or JSON (``{"error": …}``).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlencode, urlsplit

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, model_validator

from ..results import NamedCells
from ..rows.cells import LIST_FORM, CellProblem, Form, Text, When, YesNo, read_items
from ..rows.inputs import Cell, cell_text
from .base import (
    CREATE_AGAIN,
    NOTHING_TO_CHANGE,
    Answer,
    Finder,
    Json,
    Request,
    Spec,
    Vendor,
    Verdict,
    json_or_text,
    rate_limit_used,
    retry_after_seconds,
    retryable,
    same_instant,
    utc_iso,
)

# --- cell readers: raw cell -> typed value, raising CellProblem with advice ---------------

_ID_SHAPE = re.compile(r"[a-z]{3}_[A-Za-z0-9]+")
_PRIORITIES = {"": "", "none": "", "0": "0", "low": "0", "1": "1", "medium": "1", "2": "2"}
_PRIORITIES |= {"high": "2"}
_PRIORITY_FORMS = "low, medium, high or none (or 0, 1, 2)"
_MEDIA_EXTENSIONS = {"images": {"png", "jpg", "jpeg", "gif"}, "videos": {"mp4", "mov"}}
MAX_MEDIA = 6


def read_lemlist_id(value: Cell, *, prefix: str | None, what: str, example: str) -> str:
    text = cell_text(value)
    if not _ID_SHAPE.fullmatch(text) or (prefix and not text.startswith(prefix)):
        raise CellProblem(
            f"is not {what}; lemlist ids look like {example}: copy the id from lemlist"
        )
    return text


def _record_id(value: Cell) -> str:
    return read_lemlist_id(
        value,
        prefix=None,
        what="a lemlist lead or contact id",
        example="lea_zUwSUPSxozD9fLVGw (lead) or ctc_xW8Ou6C03Csv8vatp (contact)",
    )


def _user_id(value: Cell) -> str:
    return read_lemlist_id(
        value, prefix="usr_", what="a lemlist user id", example="usr_7YzNqVRMCfdeHEzMn"
    )


def _task_id(value: Cell) -> str:
    return read_lemlist_id(
        value,
        prefix="opp_",
        what="a lemlist task id (a lead's lea_ or a contact's ctc_ id is not a task)",
        example="opp_LyXDV8KHzctQdLFpG",
    )


def _task_type(value: Cell) -> str:
    text = cell_text(value).strip().lower()
    if text not in {"email", "manual", "phone", "linkedin"}:
        raise CellProblem("is not a task type; write one of email, manual, phone, linkedin")
    return text


def _priority(value: Cell) -> str:
    text = cell_text(value).strip().lower()
    if text not in _PRIORITIES:
        raise CellProblem(f"is not a priority; write {_PRIORITY_FORMS}")
    return _PRIORITIES[text]


def _media(value: Cell, info: ValidationInfo) -> tuple[str, ...]:
    kind = info.field_name or "images"
    return read_items(value, functools.partial(_medium, kind))


def _medium(kind: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise CellProblem("is not a public https:// address")
    last = parts.path.rsplit("/", 1)[-1]
    extension = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    allowed = _MEDIA_EXTENSIONS[kind]
    if extension and extension not in allowed:
        raise CellProblem(f"is a .{extension} file; {kind} must be " + ", ".join(sorted(allowed)))
    return url


def _one_of(words: tuple[str, ...]) -> str:
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _media_form(kind: str, example: str) -> Form:
    extensions = ", ".join(sorted(_MEDIA_EXTENSIONS[kind]))
    return Form(
        says=f"public https:// addresses of {extensions} files, {LIST_FORM}; linkedin tasks "
        f"only, at most {MAX_MEDIA} images and videos in all",
        example=example,
    )


# Each type checks a cell natively (in pydantic-core) first, and calls the Python reader,
# with its advice, only for a value that check refuses: the reader is the rule, the native
# check a quicker way to the same verdict for values written exactly as the API wants them.
_EITHER = Field(union_mode="left_to_right")
_TYPES = Literal["email", "manual", "phone", "linkedin"]
_PRIORITY = Literal["", "0", "1", "2"]

LeadOrContactId = Annotated[
    Annotated[str, StringConstraints(strict=True, pattern=rf"^{_ID_SHAPE.pattern}$")]
    | Annotated[str, BeforeValidator(_record_id)],
    _EITHER,
    Form(
        says="a lemlist lead id (lea_…) or contact id (ctc_…), copied from lemlist; a lead's "
        "is sent as leadId too",
        example="lea_huG8GP38g4o5MNJAY",
    ),
]
UserId = Annotated[
    Annotated[str, StringConstraints(strict=True, pattern=r"^usr_[A-Za-z0-9]+$")]
    | Annotated[str, BeforeValidator(_user_id)],
    _EITHER,
    Form(says="a lemlist user id (usr_…)", example="usr_7YzNqVRMCfdeHEzMn"),
]
TaskId = Annotated[
    Annotated[str, StringConstraints(strict=True, pattern=r"^opp_[A-Za-z0-9]+$")]
    | Annotated[str, BeforeValidator(_task_id)],
    _EITHER,
    Form(says="a lemlist task id (opp_…)", example="opp_LyXDV8KHzctQdLFpG"),
]
TaskType = Annotated[
    _TYPES | Annotated[_TYPES, BeforeValidator(_task_type)],
    _EITHER,
    Form(says=_one_of(get_args(_TYPES)) + " (any case)", example="linkedin"),
]
Priority = Annotated[
    _PRIORITY | Annotated[_PRIORITY, BeforeValidator(_priority)],
    _EITHER,
    Form(says=_PRIORITY_FORMS + ", in any case", example="high"),
]
Media = Annotated[tuple[str, ...], BeforeValidator(_media)]
Images = Annotated[Media, _media_form("images", "https://cdn.example.com/slides.png")]
Videos = Annotated[Media, _media_form("videos", "https://cdn.example.com/intro.mp4")]
#: what a title and a message may be, by example
Title = Annotated[Text, Form(example="Intro call")]
Message = Annotated[Text, Form(example="Ask about their Q3 hiring plans")]


# --- the specs ----------------------------------------------------------------------------


class LemlistCreate(Spec):
    """POST /api/tasks (seed 000)."""

    target: ClassVar[str] = "lemlist"
    action: ClassVar[str] = "create"
    aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {"recordId": ("leadId",)}
    required: ClassVar[tuple[str, ...]] = ("recordId", "type", "assignedTo", "dueDate")

    # the vendor's own field names, camelCase and all
    recordId: LeadOrContactId
    type: TaskType
    assignedTo: UserId
    dueDate: When
    title: Title | None = None
    message: Message | None = None
    priority: Priority | None = None
    images: Images = ()
    videos: Videos = ()

    @model_validator(mode="after")
    def _media_fits(self) -> LemlistCreate:
        if (self.images or self.videos) and self.type != "linkedin":
            raise CellProblem(
                f"can only be attached to linkedin tasks, and this task's type is "
                f"{self.type}: remove them or make it a linkedin task",
                field="images" if self.images else "videos",
            )
        _check_media_count(self.images, self.videos)
        return self


class LemlistUpdate(Spec):
    """PATCH /api/tasks (seeds 001, 003). A blank cell leaves the field unchanged."""

    target: ClassVar[str] = "lemlist"
    action: ClassVar[str] = "update"
    required: ClassVar[tuple[str, ...]] = ("id",)
    about: ClassVar[str] = (
        "a blank cell leaves its field unchanged (it never clears it); a row that changes "
        "nothing is invalid"
    )

    id: TaskId
    assignedTo: UserId | None = None
    dueDate: When | None = None
    title: Title | None = None
    message: Message | None = None
    priority: Priority | None = None
    done: YesNo | None = None
    images: Images | None = None
    videos: Videos | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> LemlistUpdate:
        if not self.model_fields_set - {"id"}:
            raise CellProblem(
                "nothing to change: every field besides id is blank "
                "(a blank cell means 'leave unchanged'); fill in what should change",
                field=NOTHING_TO_CHANGE,
            )
        _check_media_count(self.images or (), self.videos or ())
        return self


def _check_media_count(images: tuple[str, ...], videos: tuple[str, ...]) -> None:
    if len(images) + len(videos) > MAX_MEDIA:
        raise CellProblem(
            f"{len(images)} images and {len(videos)} videos: lemlist takes at most "
            f"{MAX_MEDIA} files per task in all; keep the {MAX_MEDIA} that matter",
            field="images" if images else "videos",
        )


# --- requests and answers -------------------------------------------------------------------

_HINTS = {
    "LINKEDIN_MEDIA_INVALID_TYPE": "images and videos can only be set on a linkedin task",
}


def _create_body(spec: LemlistCreate) -> Json:
    record = spec.recordId
    body: Json = {"recordId": record}
    if record.startswith("lea_"):
        body["leadId"] = record  # the seed's schema marks leadId required
    body["type"] = spec.type
    body["assignedTo"] = spec.assignedTo
    body["dueDate"] = utc_iso(spec.dueDate)
    if spec.title is not None:
        body["title"] = spec.title
    if spec.message is not None:
        body["message"] = spec.message
    if spec.priority is not None:
        body["priority"] = spec.priority
    if spec.images:
        body["images"] = list(spec.images)
    if spec.videos:
        body["videos"] = list(spec.videos)
    return body


def _update_body(spec: LemlistUpdate) -> Json:
    body: Json = {}
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        if isinstance(value, datetime):
            value = utc_iso(value)
        elif isinstance(value, tuple):
            value = list(value)
        body[name] = value
    return {"id": spec.id} | {name: body[name] for name in sorted(body) if name != "id"}


# A create's fields and what an edit sends for each (seed 000 -> seeds 001, 003). The update
# takes assignedTo, dueDate, title, message, priority, images and videos under the create's own
# names (``message`` becomes the task's ``content`` either way); it has no field for the lead
# (recordId, leadId) or the type. A field the edited row leaves blank is sent cleared: "" for
# title, message and priority ("" is no priority), [] for images and videos (the update page:
# "pass an empty array to clear them"); assignedTo and dueDate are never blank in a create.
_LISTS = frozenset({"images", "videos"})
_UPDATABLE = frozenset({"assignedTo", "dueDate", "title", "message", "priority", *_LISTS})


def _edit_body(task_id: str, sent: Json, changed: Collection[str]) -> Json:
    body: Json = {"id": task_id}
    for name in sorted(changed):
        body[name] = sent.get(name, [] if name in _LISTS else "")
    return body


class LemlistFinder(Finder):
    """A created task among lemlist's pending tasks (``GET /api/tasks``, "Get Many Tasks").

    The list has no lead filter: it is narrowed by assignee, type and a due-date range, and
    a task matches on its lead (or contact), type, assignee, due moment, title and message.
    The range spans a day either side of the due date, because the documentation does not
    say in which time zone its ``YYYY-MM-DD`` bounds are read. Pages count from 0; their
    size is not documented, so pages are read until one comes back empty. Done tasks are
    never listed.
    """

    def page(self, number: int) -> Request:
        body = self.sent.body
        day = date.fromisoformat(str(body["dueDate"])[:10])
        filters = [
            {"filterId": "assignedTo", "in": [body["assignedTo"]]},
            {"filterId": "type", "in": [body["type"]]},
            {
                "filterId": "dueDate",
                "from": (day - timedelta(days=1)).isoformat(),
                "to": (day + timedelta(days=1)).isoformat(),
            },
        ]
        query = urlencode({"page": number, "filters": json.dumps(filters, separators=(",", ":"))})
        return Request("GET", f"/api/tasks?{query}", {})

    def tasks(self, body: Any) -> list[Json]:
        listed = body.get("results") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise ValueError("the answer has no list of results")
        return [task for task in listed if isinstance(task, dict)]

    def more(self, number: int, tasks: Sequence[Json]) -> bool:
        return bool(tasks)

    def matches(self, task: Json) -> bool:
        body = self.sent.body
        record = body["recordId"]
        return (
            record in (task.get("leadId"), task.get("contactId"), task.get("recordId"))
            and task.get("type") == body["type"]
            and (task.get("userId") or task.get("assignedTo")) == body["assignedTo"]
            and same_instant(task.get("dueDate"), body["dueDate"])
            and (task.get("title") or "") == body.get("title", "")
            and (task.get("content") or "") == body.get("message", "")
        )

    def task_id(self, task: Json) -> str:
        return str(task.get("_id", ""))

    def describe(self, task: Json) -> str:
        return f"{self.task_id(task)} (due {task.get('dueDate')}, title {task.get('title')!r})"


class Lemlist(Vendor):
    name: ClassVar[str] = "lemlist"
    title: ClassVar[str] = "lemlist"
    base_url: ClassVar[str] = "https://api.lemlist.com"
    key_env: ClassVar[str] = "LEMLIST_API_KEY"
    key_hint: ClassVar[str] = "find it in lemlist's settings, under integrations"
    limit: ClassVar[int] = 20
    period: ClassVar[float] = 2.0
    specs: ClassVar[tuple[type[Spec], ...]] = (LemlistCreate, LemlistUpdate)
    lists_done: ClassVar[bool] = False
    says_rate_used: ClassVar[bool] = True
    updatable: ClassVar[frozenset[str]] = _UPDATABLE
    edit_elsewhere: ClassVar[str] = "in lemlist's app"

    def auth_headers(self, key: str) -> dict[str, str]:
        token = base64.b64encode(f":{key}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def rate_used(self, headers: Mapping[str, str]) -> int | None:
        return rate_limit_used(headers)  # every answer says it, 429s too

    def build(self, spec: Spec) -> Request:
        if isinstance(spec, LemlistCreate):
            return Request("POST", "/api/tasks", _create_body(spec))
        if isinstance(spec, LemlistUpdate):
            return Request("PATCH", "/api/tasks", _update_body(spec))
        raise TypeError(f"not a lemlist spec: {type(spec).__name__}")

    def finder(self, sent: Request) -> Finder | None:
        return LemlistFinder(sent) if sent.method == "POST" else None

    def _edit(self, task_id: str, sent: Request, changed: Collection[str]) -> Request:
        return Request("PATCH", "/api/tasks", _edit_body(task_id, sent.body, changed), task_id)

    def read(
        self, status: int, headers: Mapping[str, str], body: bytes, *, sent: Request | None = None
    ) -> Answer:
        data, text = json_or_text(body)
        if 200 <= status < 300:
            remote_id = str(data.get("_id", "")) if data else ""
            message = "" if remote_id else "lemlist answered success without a task id"
            return Answer(
                verdict=Verdict.DONE, http_status=status, remote_id=remote_id, error_message=message
            )
        if status in (401, 403):
            return Answer(
                verdict=Verdict.REJECTED_KEY,
                http_status=status,
                error_code="key_rejected",
                error_message=text or "key rejected",
            )
        if retryable(status):
            return Answer(
                verdict=Verdict.RETRY,
                http_status=status,
                error_code=f"http_{status}",
                error_message=text,
                retry_after=retry_after_seconds(headers.get("retry-after")),
            )
        code = str(data["error"]) if data and "error" in data else f"http_{status}"
        message = f"lemlist refused it: {text or f'HTTP {status}'}"
        advice = "; fix the row, then run again with --resume --retry-failed"
        if code in _HINTS:
            message = f"{message}: {_HINTS[code]}"
        elif status == 404 and sent is not None and sent.edits:
            return Answer(
                verdict=Verdict.FAILED,
                http_status=status,
                error_code=code,
                error_message=f"{message}: lemlist has no task {sent.edits} any more: it was "
                f"deleted in lemlist; {CREATE_AGAIN}",
            )
        elif status == 404:
            return Answer(
                verdict=Verdict.FAILED,
                http_status=status,
                error_code=code,
                error_message=f"{message}: lemlist has no task with this id; check ",
                cells=NamedCells(("id",), then=advice),
            )
        return Answer(
            verdict=Verdict.FAILED,
            http_status=status,
            error_code=code,
            error_message=message + advice,
        )


LEMLIST = Lemlist()
