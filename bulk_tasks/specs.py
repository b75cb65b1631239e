"""What a valid task looks like: one pydantic model per vendor action, from the seeds.

Cells arrive as text (or as a datetime from a real Excel date cell) and the models decide
the types. Every refusal carries a sentence an ops person can act on; ``check`` turns
pydantic's errors into :class:`Problem` values that name the field, the value and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo
from pydantic import model_validator as _model_validator

from .inputs import Cell, cell_text


class DateOrder(StrEnum):
    """How to read a slashed date such as 03/04/2026 (``--date-format``)."""

    DMY = "DMY"
    MDY = "MDY"


@dataclass(frozen=True, kw_only=True)
class Reading:
    """How to read cells whose meaning depends on the user's locale."""

    timezone: tzinfo = UTC
    date_order: DateOrder | None = None


class CellProblem(ValueError):
    """A cell's value is wrong; the message says why and what to write instead.

    ``field`` names the culprit when the check spans fields (a model-level check).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Problem:
    """Why a row cannot be sent. ``field`` is the vendor's field name, or a row-level code."""

    field: str
    message: str
    value: str | None = None


# --- cell readers: raw cell -> typed value, raising CellProblem with advice ---------------

_ID_SHAPE = re.compile(r"[a-z]{3}_[A-Za-z0-9]+")
_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0"}
_PRIORITIES = {"": "", "none": "", "0": "0", "low": "0", "1": "1", "medium": "1", "2": "2"}
_PRIORITIES |= {"high": "2"}
_LIST_SEPARATORS = re.compile(r"[,;\n]+")
_SLASHED = re.compile(
    r"(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})"
    r"(?:[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?)?"
)
_YEAR_FIRST_SLASHED = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})(.*)")
_MEDIA_EXTENSIONS = {"images": {"png", "jpg", "jpeg", "gif"}, "videos": {"mp4", "mov"}}
MAX_MEDIA = 6
#: the problem "field" of an update row that changes nothing
NOTHING_TO_CHANGE = "nothing_to_change"


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
        raise CellProblem("is not a priority; write low, medium, high or none (or 0, 1, 2)")
    return _PRIORITIES[text]


def _done(value: Cell) -> bool:
    text = cell_text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellProblem("is not yes or no; write true/false, yes/no, 1/0, or x for done")


def _media(value: Cell, info: ValidationInfo) -> tuple[str, ...]:
    kind = info.field_name or "images"
    urls = tuple(u.strip() for u in _LIST_SEPARATORS.split(cell_text(value)) if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc:
            raise CellProblem(f"holds {url!r}, which is not a public https:// address")
        last = parts.path.rsplit("/", 1)[-1]
        extension = last.rsplit(".", 1)[-1].lower() if "." in last else ""
        allowed = _MEDIA_EXTENSIONS[kind]
        if extension and extension not in allowed:
            raise CellProblem(
                f"holds {url!r}, a .{extension} file; {kind} must be " + ", ".join(sorted(allowed))
            )
    return urls


def read_when(value: Cell, reading: Reading) -> datetime:
    """A cell as an aware UTC datetime; a value without a zone is in ``reading.timezone``."""
    when = value if isinstance(value, datetime) else _parse_date_text(value.strip(), reading)
    if when.tzinfo is None:
        when = when.replace(tzinfo=reading.timezone)
    if not 2000 <= when.year <= 2100:
        raise CellProblem(f"is in the year {when.year}, which looks like a typo")
    return when.astimezone(UTC)


def _parse_date_text(text: str, reading: Reading) -> datetime:
    year_first = _YEAR_FIRST_SLASHED.fullmatch(text)
    if year_first:  # 2026/04/03 is never ambiguous: read it as ISO
        y, m, d, rest = year_first.groups()
        text = f"{y}-{int(m):02d}-{int(d):02d}{rest}"
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        pass
    slashed = _SLASHED.fullmatch(text)
    if slashed is None:
        raise CellProblem(
            "is not a date; write it as 2026-04-03, 2026-04-03 14:30 or 2026-04-03T14:30:00Z"
        )
    if reading.date_order is None:
        raise CellProblem(
            "is ambiguous (day/month or month/day?); write 2026-04-03, "
            "or pass --date-format DMY (day first) or --date-format MDY (month first)"
        )
    return _slashed_datetime(slashed, reading.date_order)


def _slashed_datetime(match: re.Match[str], order: DateOrder) -> datetime:
    a, b, year = int(match["a"]), int(match["b"]), int(match["y"])
    day, month = (a, b) if order is DateOrder.DMY else (b, a)
    hour, minute, second = int(match["h"] or 0), int(match["mi"] or 0), int(match["s"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise CellProblem(f"has hour {hour} with AM/PM; use 1-12 or a 24-hour time")
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    try:
        return datetime(year + 2000 if year < 100 else year, month, day, hour, minute, second)
    except ValueError as error:
        raise CellProblem(f"is not a real date ({error}) when read as {order.value}") from None


def _when(value: Cell, info: ValidationInfo) -> datetime:
    reading = info.context.get("reading", Reading()) if info.context else Reading()
    return read_when(value, reading)


def _plain(value: Cell) -> str:
    return cell_text(value)


LeadOrContactId = Annotated[str, BeforeValidator(_record_id)]
UserId = Annotated[str, BeforeValidator(_user_id)]
TaskId = Annotated[str, BeforeValidator(_task_id)]
TaskType = Annotated[Literal["email", "manual", "phone", "linkedin"], BeforeValidator(_task_type)]
Priority = Annotated[Literal["", "0", "1", "2"], BeforeValidator(_priority)]
Done = Annotated[bool, BeforeValidator(_done)]
Media = Annotated[tuple[str, ...], BeforeValidator(_media)]
When = Annotated[datetime, BeforeValidator(_when)]
Text = Annotated[str, BeforeValidator(_plain)]


# --- the models ---------------------------------------------------------------------------


class Spec(BaseModel):
    """A task action that passed our validation, ready to become a request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: ClassVar[str]
    action: ClassVar[str]
    #: field -> other names a column may have for it
    aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: fields that must have a column (or a --set) for the run to start
    required: ClassVar[tuple[str, ...]] = ()


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
    title: Text | None = None
    message: Text | None = None
    priority: Priority | None = None
    images: Media = ()
    videos: Media = ()

    @_model_validator(mode="after")
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

    id: TaskId
    assignedTo: UserId | None = None
    dueDate: When | None = None
    title: Text | None = None
    message: Text | None = None
    priority: Priority | None = None
    done: Done | None = None
    images: Media | None = None
    videos: Media | None = None

    @_model_validator(mode="after")
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


SPECS: dict[tuple[str, str], type[Spec]] = {
    (spec.target, spec.action): spec for spec in (LemlistCreate, LemlistUpdate)
}


def spec_for(target: str, action: str) -> type[Spec]:
    return SPECS[(target, action)]


def check(
    model: type[Spec], values: Mapping[str, Cell], *, reading: Reading
) -> Spec | list[Problem]:
    """Validate one row's non-blank values; a spec, or every problem found in the row."""
    try:
        return model.model_validate(dict(values), context={"reading": reading})
    except ValidationError as error:
        return [_problem(detail, values) for detail in error.errors()]


def _problem(detail: Any, values: Mapping[str, Cell]) -> Problem:
    cause = detail.get("ctx", {}).get("error")
    location = detail["loc"]
    field = str(location[0]) if location else NOTHING_TO_CHANGE
    if isinstance(cause, CellProblem) and cause.field:
        field = cause.field
    value = cell_text(values[field]) if field in values else None
    if isinstance(cause, CellProblem):
        return Problem(field, str(cause), value)
    if detail["type"] == "missing":
        return Problem(field, "is empty; every task needs one", None)
    if detail["type"] == "extra_forbidden":
        return Problem(field, "is not a field of this action", value)
    return Problem(field, str(detail["msg"]), value)
