"""Cell readers every vendor shares: dates, yes/no, lists, plain text.

Cells arrive as text (or as a datetime from a real Excel date cell). A reader turns one into
a typed value or raises :class:`CellProblem` with a sentence that says what to write instead;
the vendors' pydantic specs use them as ``BeforeValidator``s. Each cell type also carries a
:class:`Form`, what ``bulk-tasks fields`` says of how to write it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, TypeVar, get_args

import idna
from pydantic import BaseModel, BeforeValidator, Field, Strict, ValidationInfo
from pydantic.fields import FieldInfo

from .inputs import Cell, cell_text

T = TypeVar("T")


class DateOrder(StrEnum):
    """How to read a slashed date such as 03/04/2026 (``--date-format``)."""

    DMY = "DMY"
    MDY = "MDY"


@dataclass(frozen=True)
class DateCell:
    """A slashed date as a cell holds it, and where: its row (None: a --set value)."""

    row: int | None
    text: str


@dataclass(frozen=True, kw_only=True)
class MixedOrders:
    """A column whose slashed dates are written both ways: none of them can be read."""

    day_first: DateCell
    month_first: DateCell

    @property
    def both_orders(self) -> str:
        """The two cells, as said after the column's name."""
        return (
            f"has dates day first (row {self.day_first.row}: {self.day_first.text}) and month "
            f"first (row {self.month_first.row}: {self.month_first.text})"
        )

    @property
    def reason(self) -> str:
        """What is wrong with the column, and what to do, in words that fit any of its cells."""
        return f"{self.both_orders}; {MIXED_FIX}"


MIXED_FIX = "write them all one way (or as 2026-04-03), or pass --date-format DMY or MDY"
#: why slashed dates whose order nothing tells are refused, in words that fit any of them
AMBIGUOUS_REASON = (
    "has dates that read both ways (day/month or month/day?); pass --date-format DMY or MDY, "
    "or write them as 2026-04-03"
)


#: how a slashed date is read: an order, both orders in one column, or not known
SlashedReading = DateOrder | MixedOrders | None


@dataclass(frozen=True, kw_only=True)
class Reading:
    """How to read cells whose meaning depends on the user's locale."""

    timezone: tzinfo = UTC
    #: ``--date-format``: the order of every slashed date
    date_order: DateOrder | None = None
    #: without ``date_order``: the order each date field's cells show (by field); a field not
    #: here has no cell that tells, and its slashed dates are ambiguous
    field_orders: Mapping[str, DateOrder | MixedOrders] = field(default_factory=dict)

    def order_of(self, field: str | None) -> SlashedReading:
        """How the slashed dates of ``field`` are read."""
        if self.date_order is not None or field is None:
            return self.date_order
        return self.field_orders.get(field)


@dataclass(frozen=True, kw_only=True)
class Form:
    """How a user writes a field's cell, as ``bulk-tasks fields`` says it: the accepted forms,
    an example, and what a blank cell means where that needs saying.

    A cell type carries one in its ``Annotated`` metadata (pydantic leaves it alone); a field
    may carry one of its own, whose pieces win over its type's (``Annotated[Text,
    Form(example="Intro call")]``).
    """

    says: str = ""
    example: str = ""
    blank: str = ""


def form_of(field: FieldInfo) -> Form:
    """The form of a spec's field: its type's, with the field's own pieces over it."""
    form = Form()
    for found in [*_forms_in(field.annotation), *_forms_in(*field.metadata)]:
        given = {name: value for name, value in dataclasses.asdict(found).items() if value}
        form = dataclasses.replace(form, **given)
    return form


def _forms_in(*annotations: object) -> Iterator[Form]:
    """The forms inside type annotations, the innermost first."""
    for annotation in annotations:
        yield from (part for part in _parts(annotation) if isinstance(part, Form))


class CellProblem(ValueError):
    """A cell's value is wrong; the message says why and what to write instead.

    ``field`` names the culprit when the check spans fields (a model-level check).
    ``reason`` says it in words that name no cell's own value, the same for every cell
    refused for this cause (None: the message already does).
    """

    def __init__(
        self, message: str, *, field: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


_TRUE = ("true", "yes", "y", "1", "x")
_FALSE = ("false", "no", "n", "0")
#: what separates the items of a list cell; ids may also be separated by spaces
LIST_SEPARATORS = re.compile(r"[,;\n]+")
ID_SEPARATORS = re.compile(r"[,;\s]+")
_SLASHED = re.compile(
    r"(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})"
    r"(?:[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?)?"
)
_YEAR_FIRST_SLASHED = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})(.*)")
#: a domain as DNS spells it: letters, digits and hyphens between dots; the last label
#: letters only, or an international one's xn-- form
_ASCII_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})",
    re.IGNORECASE,
)
_LOCAL_PART = re.compile(r"[^@\s,;]+")


def split_list(value: Cell, separators: re.Pattern[str] = LIST_SEPARATORS) -> tuple[str, ...]:
    """The non-blank items of a list cell, trimmed, in order (duplicates kept)."""
    return tuple(item.strip() for item in separators.split(cell_text(value)) if item.strip())


def read_items(
    value: Cell, read: Callable[[str], T], separators: re.Pattern[str] = LIST_SEPARATORS
) -> tuple[T, ...]:
    """Each item of a list cell, read by ``read``. An item ``read`` refuses is named in the
    message, unless it is all the cell holds: the message shows the cell already."""
    items = split_list(value, separators)
    read_items: list[T] = []
    for item in items:
        try:
            read_items.append(read(item))
        except CellProblem as problem:
            if len(items) == 1:
                raise
            raise CellProblem(
                f'holds "{item}", which {problem}',
                field=problem.field,
                reason=f"holds an item that {problem.reason or problem}",
            ) from None
    return tuple(read_items)


def is_domain(text: str) -> bool:
    """Whether ``text`` is an internet domain of two labels or more, such as acme.com. An
    international one (exämple.de, or xn--exmple-cua.de as DNS spells it) is checked by the
    rules of international domain names (IDNA 2008, with the Unicode mapping of UTS 46)."""
    if text.isascii() and "xn--" not in text.lower():
        return _ASCII_DOMAIN.fullmatch(text) is not None
    try:
        spelled = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        return False
    return _ASCII_DOMAIN.fullmatch(spelled) is not None


def is_email_address(text: str) -> bool:
    """Whether ``text`` is an email address: a local part (any characters but @, spaces and
    the list separators) and, after the @, a domain as :func:`is_domain` reads one."""
    local, at, domain = text.rpartition("@")
    return bool(at) and _LOCAL_PART.fullmatch(local) is not None and is_domain(domain)


def read_yes_no(value: Cell) -> bool:
    text = cell_text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellProblem("is not yes or no; write true/false, yes/no, 1/0, or x for done")


_DEFAULT_READING = Reading()


def reading_of(info: ValidationInfo) -> Reading:
    """The run's :class:`Reading`, passed to pydantic as validation context."""
    found = info.context.get("reading") if info.context else None
    return found if found is not None else _DEFAULT_READING


def read_when(value: Cell, reading: Reading, *, field: str | None = None) -> datetime:
    """A cell of ``field`` as an aware UTC datetime; a value without a zone is in
    ``reading.timezone``."""
    return _read_when(value, reading.timezone, reading.order_of(field))


@functools.lru_cache(maxsize=4096)  # a file repeats its dates: each is read once
def _read_when(value: Cell, timezone: tzinfo, order: SlashedReading) -> datetime:
    when = value if isinstance(value, datetime) else _parse_date_text(value.strip(), order)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone)
    if not 2000 <= when.year <= 2100:
        raise CellProblem(
            f"is in the year {when.year}, which looks like a typo",
            reason="is in a year before 2000 or after 2100, which looks like a typo",
        )
    return when.astimezone(UTC)


def read_day(value: Cell, reading: Reading, *, field: str | None = None) -> date:
    """A cell of ``field`` as a calendar day: the date it is in ``reading.timezone``."""
    return read_when(value, reading, field=field).astimezone(reading.timezone).date()


@functools.lru_cache(maxsize=4096)  # a file repeats its dates: each is looked at once
def order_shown(text: str) -> DateOrder | None:
    """The order a slashed date shows by itself: DMY for 14/12/2026 (no month 14), MDY for
    12/14/2026; None for 03/04/2026, for 2026-12-14 and for text that is no slashed date."""
    slashed = _SLASHED.fullmatch(text.strip())
    if slashed is None:
        return None
    first, second = int(slashed["a"]), int(slashed["b"])
    if first > 12 >= second:
        return DateOrder.DMY
    if second > 12 >= first:
        return DateOrder.MDY
    return None


def is_slashed(text: str) -> bool:
    """Whether ``text`` is a date written like 03/04/2026, whose order must be known."""
    return _SLASHED.fullmatch(text.strip()) is not None


def _parse_date_text(text: str, order: SlashedReading) -> datetime:
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
    if order is None:
        raise CellProblem(
            "is ambiguous (day/month or month/day?); write 2026-04-03, "
            "or pass --date-format DMY (day first) or --date-format MDY (month first)",
            reason=AMBIGUOUS_REASON,
        )
    if isinstance(order, MixedOrders):
        raise CellProblem(f"cannot be read: this column {order.reason}", reason=order.reason)
    return _slashed_datetime(slashed, order)


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
    return read_when(value, reading_of(info), field=info.field_name)


def _day(value: Cell, info: ValidationInfo) -> date:
    return read_day(value, reading_of(info), field=info.field_name)


def date_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` read as dates (:data:`When`, :data:`Day`), optional or not."""
    return tuple(
        name
        for name, info in model.model_fields.items()
        if any(_reads_dates(part) for part in (*info.metadata, info.annotation))
    )


def _reads_dates(annotation: Any) -> bool:
    return any(
        isinstance(part, BeforeValidator) and part.func in (_when, _day)
        for part in _parts(annotation)
    )


def _parts(annotation: Any) -> Iterator[Any]:
    """An annotation and every type or marker nested in it."""
    yield annotation
    for inner in get_args(annotation):
        yield from _parts(inner)


_SLASHED_DATES = (
    "03/12/2026, day or month first as a date of the column above 12 tells (14/12/2026 is day "
    "first), else as --date-format DMY or MDY says"
)
When = Annotated[
    datetime,
    BeforeValidator(_when),
    Form(
        says="a date, with or without a time: 2026-12-01, 2026-12-01 09:30, "
        f"2026-12-01T09:30:00+01:00, 2026/12/01, an Excel date cell, or {_SLASHED_DATES}; "
        "without a zone, in --timezone (default UTC)",
        example="2026-12-01 09:30",
    ),
]
Day = Annotated[
    date,
    BeforeValidator(_day),
    Form(
        says=f"a date: 2026-12-01, 2026/12/01, an Excel date cell, or {_SLASHED_DATES}; with a "
        "time, the day it is in --timezone (default UTC)",
        example="2026-12-01",
    ),
]
YesNo = Annotated[
    bool,
    BeforeValidator(read_yes_no),
    Form(says=f"yes ({', '.join(_TRUE)}) or no ({', '.join(_FALSE)}), in any case", example="yes"),
]
#: text as it is; a date cell as text (the Python reader runs only for a cell not text)
Text = Annotated[
    Annotated[str, Strict()] | Annotated[str, BeforeValidator(cell_text)],
    Field(union_mode="left_to_right"),
    Form(says="any text"),
]
#: what separates the items of a list cell, in words
LIST_FORM = "separated by , ; or new lines"
