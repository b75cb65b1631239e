"""What a vendor is: its specs, the requests it is sent, and how its answers are read.

A row of the input becomes one or more *lines* (what the results file reports on): one for
a lemlist task, one per prospect for Saleshandy. Each line asks for something of its own,
an :class:`Ask` (the request that line alone would make). Lines whose asks the vendor can
carry together are packed into one request (:meth:`Vendor.merge`), and reading the answer
to a request gives an :class:`Answer`, with an outcome per line it carried when the vendor
answers per line (:attr:`Answer.lines`).

Nothing here touches the network, so request shapes and answer readings are tested
without one.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..results import NamedCells, Outcome
from ..rows.cells import CellProblem, Reading
from ..rows.inputs import Cell, cell_text

Json = dict[str, Any]
#: the problem "field" of a row whose fault is no single field (an update that changes nothing)
NOTHING_TO_CHANGE = "nothing_to_change"
#: what to do when an edit finds its task deleted at the vendor
CREATE_AGAIN = (
    "to create it again, remove it from the task ledger (bulk-tasks ledger forget --identity "
    "with this row's key), then run again"
)


@dataclass(slots=True)  # not frozen: built per row, a third of the cost
class Request:
    """What to send, without the host or the key (both come from the run's settings)."""

    method: str
    path: str
    body: Json
    #: the vendor's id of the task this request edits (made by :meth:`Vendor.edit`: a task an
    #: earlier run created); "" for any other request
    edits: str = ""


@dataclass(slots=True)  # not frozen: built per row, a third of the cost
class Ask:
    """What one line asks of the vendor: the request it would make alone, and about whom."""

    request: Request
    #: who the line is about when a request can carry several (a Saleshandy prospect id)
    subject: str = ""
    #: said on the line whatever becomes of it (an id given twice in the row, say)
    notes: tuple[str, ...] = ()


class Verdict(StrEnum):
    """What an answer says of the request as a whole."""

    DONE = "done"  # the vendor applied it (for some lines, if it answers per line)
    FAILED = "failed"  # the vendor refused it, for a reason retrying will not change
    RETRY = "retry"  # the vendor did not apply it and may if asked again (429, 5xx)
    REJECTED_KEY = "rejected_key"  # 401/403: no row can succeed with this key


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An HTTP answer as the vendor means it.

    ``lines`` holds, when the vendor answers per line, each line's
    :class:`~bulk_tasks.results.Outcome` in the order of :meth:`Vendor.subjects`
    (``created``, ``failed`` or ``unknown``; the sender adds the HTTP status and the
    attempts); otherwise (None) the answer as a whole is every line's outcome.
    """

    verdict: Verdict
    http_status: int
    remote_id: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_after: float | None = None  # seconds, when the vendor said how long to wait
    lines: tuple[Outcome, ...] | None = None
    #: the input fields whose cells the message names, after its words (None: it names none);
    #: the results line names them by the user's own columns
    cells: NamedCells | None = None


# --- specs ------------------------------------------------------------------------------------


class Spec(BaseModel):
    """A task action that passed our validation, ready to become requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: ClassVar[str]
    action: ClassVar[str]
    #: field -> other names a column may have for it
    aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: fields that must have a column (or a --set) for the run to start
    required: ClassVar[tuple[str, ...]] = ()
    #: what a user should know of the action's rows, said by ``bulk-tasks fields``
    about: ClassVar[str] = ""


@dataclass(frozen=True)
class Problem:
    """Why a row cannot be sent. ``field`` is the vendor's field name, or a row-level code.

    ``reason`` says it in words that name no cell's own value, the same for every row
    refused for this cause (None: ``message`` already does)."""

    field: str
    message: str
    value: str | None = None
    reason: str | None = None


def check(
    model: type[Spec], values: Mapping[str, Cell], *, reading: Reading
) -> Spec | list[Problem]:
    """Validate one row's non-blank values; a spec, or every problem found in the row."""
    try:
        return model.model_validate(values, context={"reading": reading})
    except ValidationError as error:
        details = error.errors()
    # a field checked natively first, then by its reader, fails twice: the reader's advice
    # is what to say, not the native check's
    advised = {detail["loc"][:1] for detail in details if _advice(detail) is not None}
    return [
        _problem(detail, values)
        for detail in details
        if _advice(detail) is not None or detail["loc"][:1] not in advised
    ]


def _advice(detail: Any) -> CellProblem | None:
    cause = detail.get("ctx", {}).get("error")
    return cause if isinstance(cause, CellProblem) else None


def _problem(detail: Any, values: Mapping[str, Cell]) -> Problem:
    cause = detail.get("ctx", {}).get("error")
    location = detail["loc"]
    field = str(location[0]) if location else NOTHING_TO_CHANGE
    if isinstance(cause, CellProblem) and cause.field:
        field = cause.field
    value = cell_text(values[field]) if field in values else None
    if isinstance(cause, CellProblem):
        return Problem(field, str(cause), value, cause.reason)
    if detail["type"] == "missing":
        return Problem(field, "is empty; every task needs one", None)
    if detail["type"] == "extra_forbidden":
        return Problem(field, "is not a field of this action", value)
    return Problem(field, str(detail["msg"]), value)


# --- looking a task up ------------------------------------------------------------------------


class Finder:
    """How to look at the vendor for the task one create asked for, when no answer came.

    The vendor's list endpoint is read page by page (:meth:`page`, :meth:`tasks`,
    :meth:`more`); :meth:`matches` says whether a listed task is the one ``sent`` asked for.
    Two finders with the same :meth:`page` requests read the same pages, so a run reads
    each page once however many lines look at it.
    """

    def __init__(self, sent: Request) -> None:
        self.sent = sent

    def page(self, number: int) -> Request:
        """The GET request for page ``number`` (from 0)."""
        raise NotImplementedError

    def tasks(self, body: Any) -> list[Json]:
        """The tasks listed in a page's JSON answer; ValueError when it is not a page."""
        raise NotImplementedError

    def more(self, number: int, tasks: Sequence[Json]) -> bool:
        """Whether a page follows page ``number``, which listed ``tasks``."""
        raise NotImplementedError

    def matches(self, task: Json) -> bool:
        raise NotImplementedError

    def task_id(self, task: Json) -> str:
        raise NotImplementedError

    def describe(self, task: Json) -> str:
        """A listed task in a few words, to name in a message."""
        return self.task_id(task)


def same_instant(first: object, second: object) -> bool:
    """Whether two ISO 8601 timestamps (or two nulls) name the same moment."""
    if first is None or second is None:
        return first is second
    try:
        one = datetime.fromisoformat(str(first).replace("Z", "+00:00"))
        other = datetime.fromisoformat(str(second).replace("Z", "+00:00"))
    except ValueError:
        return False
    if one.tzinfo is None or other.tzinfo is None:
        return False
    return one == other


# --- vendors ----------------------------------------------------------------------------------


class Vendor:
    """One vendor's task API. Subclasses fill in the class attributes and methods.

    The defaults describe a vendor whose request carries exactly one line (lemlist).
    """

    name: ClassVar[str]
    #: the name as the vendor writes it ("Saleshandy"; ``name`` is what --target takes)
    title: ClassVar[str]
    base_url: ClassVar[str]
    key_env: ClassVar[str]
    #: where a user finds the key, for the message when it is missing
    key_hint: ClassVar[str]
    #: the documented (or assumed) rate limit: `limit` requests per `period` seconds per key
    limit: ClassVar[int]
    period: ClassVar[float]
    specs: ClassVar[tuple[type[Spec], ...]]
    #: what one line of the results file is, in a summary ("rows", "prospects")
    line_noun: ClassVar[str] = "rows"
    #: the most lines one request may carry
    most_per_request: ClassVar[int] = 1
    #: reads' own rate limit, when the vendor counts them apart from writes (None: one
    #: window for every route)
    read_limit: ClassVar[tuple[int, float] | None] = None
    #: why a line with no answer cannot be looked up, when the vendor has no way to list
    #: tasks: what to check in the vendor's app instead ({subject}: the line's subject)
    no_lookup: ClassVar[str] = ""
    #: whether the vendor's task list shows tasks already done (lemlist's does not)
    lists_done: ClassVar[bool] = True
    #: whether the vendor's answers say how many requests its window counted (rate_used)
    says_rate_used: ClassVar[bool] = False
    #: the fields (as sent_fields names them) an update can change; empty: the vendor has no update
    updatable: ClassVar[frozenset[str]] = frozenset()
    #: where the user changes what an update cannot, said on the line ("in Saleshandy's app")
    edit_elsewhere: ClassVar[str] = ""

    def spec(self, action: str) -> type[Spec] | None:
        return next((spec for spec in self.specs if spec.action == action), None)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(spec.action for spec in self.specs)

    def auth_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def asks(self, spec: Spec) -> tuple[Ask, ...]:
        """One per line the row makes; by default the row is one line."""
        return (Ask(self.build(spec)),)

    def build(self, spec: Spec) -> Request:
        raise NotImplementedError

    def named(self, values: Mapping[str, Cell]) -> tuple[str, ...]:
        """The subjects an invalid row names, one line each ("": the row is one line)."""
        return ("",)

    def pack_key(self, request: Request) -> str | None:
        """Requests with equal keys may be merged into one; None: never merged."""
        return None

    def merge(self, requests: Sequence[Request]) -> Request:
        """One request carrying the lines of ``requests`` (all with one :meth:`pack_key`)."""
        if len(requests) != 1:
            raise ValueError(f"{self.name} sends one line per request")
        return requests[0]

    def finder(self, sent: Request) -> Finder | None:
        """How to look for the task ``sent`` (a create) asked for; None: it cannot be."""
        return None

    def sent_fields(self, request: Request) -> Mapping[str, object]:
        """What a create (request) sends, field by field: the fields whose values a later row
        is compared with. Default: the body's own keys."""
        return request.body

    def edit(self, task_id: str, sent: Request, changed: Collection[str]) -> Request:
        """The request that updates task ``task_id`` so that the fields ``changed`` (all of them in
        ``updatable``) become what ``sent`` (a create request built from the edited row) asks.
        ValueError when the vendor has no update, or ``changed`` is empty or names a field
        the update cannot change."""
        if not self.updatable:
            raise ValueError(f"{self.title} has no update: change its tasks {self.edit_elsewhere}")
        if not changed:
            raise ValueError("an edit needs a field to change")
        fixed = sorted(set(changed) - self.updatable)
        if fixed:
            them = "it" if len(fixed) == 1 else "them"
            raise ValueError(
                f"{self.title}'s update cannot change {', '.join(fixed)}: change {them} "
                f"{self.edit_elsewhere}"
            )
        return self._edit(task_id, sent, changed)

    def _edit(self, task_id: str, sent: Request, changed: Collection[str]) -> Request:
        """:meth:`edit`'s request, ``changed`` checked: for a vendor with an update."""
        raise NotImplementedError

    def subjects(self, request: Request) -> tuple[str, ...]:
        """The lines a request carries, in the order :attr:`Answer.lines` follows."""
        return ("",)

    def read(
        self, status: int, headers: Mapping[str, str], body: bytes, *, sent: Request | None = None
    ) -> Answer:
        """The answer to ``sent``; a vendor that answers per line reads it against what it sent."""
        raise NotImplementedError

    def rate_used(self, headers: Mapping[str, str]) -> int | None:
        """The requests the server counts in the key's rate window, when its answer says so
        (None when it does not: the default)."""
        return None


# --- shared readings -----------------------------------------------------------------------


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: lemlist sends a number, Attio an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


@functools.lru_cache(maxsize=4096)  # a file repeats its dates: each is written once
def utc_iso(when: datetime) -> str:
    """2026-04-03T09:00:00.000Z: UTC with milliseconds, as the lemlist docs show."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # -6: +00:00


def json_or_text(body: bytes) -> tuple[Json | None, str]:
    """The body as a JSON object (None if it is not one), and as text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return None, text
    return (data if isinstance(data, dict) else None), text


def rate_limit_used(headers: Mapping[str, str]) -> int | None:
    """``X-RateLimit-Limit`` less ``X-RateLimit-Remaining``: what the server counts in the
    window; None unless both are whole numbers."""
    limit, remaining = headers.get("x-ratelimit-limit"), headers.get("x-ratelimit-remaining")
    if limit is None or remaining is None:
        return None
    try:
        return max(0, int(limit) - int(remaining))
    except ValueError:
        return None


def retryable(status: int) -> bool:
    return status == 429 or status >= 500
