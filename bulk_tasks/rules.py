"""Rows -> lines: what each row asks of the vendor, or why it cannot be sent.

A row becomes one or more :class:`Line` (one per row for lemlist, one per prospect for
Saleshandy): what the line asks for and its fingerprint, or the problems that keep it from
being sent. The vendors' pydantic specs hold every rule; :class:`Rules` applies them to a
row with the input's column map.

Checking rows is most of what ``validate`` costs, and rows do not depend on each other, so
:func:`checked_rows` can spread them over helper processes, in chunks, and still hands them
back in input order; :func:`rendered_parts` has the helpers read the table's parts and
render the results lines too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import re
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .cells import Reading
from .columns import KEY_ENV, ColumnMap
from .inputs import Cell, Row, Table, is_blank
from .results import CsvLines, Outcome, Status
from .vendors import VENDORS
from .vendors.base import Ask, Problem, Request, Spec, Vendor, check

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)  # not frozen: built per row, a third of the cost
class Line:
    """One line of the results file: a row (and prospect), what it asks, its identity."""

    row: Row
    prospect_id: str
    fingerprint: str
    ask: Ask | None  # None: the row is invalid
    problems: tuple[Problem, ...] = ()
    #: the environment variable holding this line's key ("": the vendor's own)
    key_env: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        return self.ask.notes if self.ask else ()


#: how ``validate`` reports a valid line
VALID = Outcome(
    status=Status.NOT_SENT,
    error_code="valid",
    error_message="valid: `bulk-tasks run` would send it",
)


class Checked(NamedTuple):
    """A line as ``validate`` reports it: small, to travel back from a helper process."""

    prospect_id: str
    fingerprint: str
    outcome: Outcome
    message: str  # the outcome's, with the line's notes


class Rendered(NamedTuple):
    """A part of the table as ``validate``'s results lines, rendered by a helper."""

    rows: int  # blank ones included
    blank: int
    counts: dict[Status, int]  # the lines' statuses
    #: each line's fingerprint as this part alone sees it, and where it starts in ``text``
    fingerprints: list[str]
    offsets: list[int]
    text: str


def fingerprint(target: str, action: str, content: object) -> str:
    """A short hash of what a line asks for: equal for equal lines, wherever they stand.

    The hash is of ``json.dumps([target, action, content], sort_keys=True,
    ensure_ascii=False, default=str)``, byte for byte: results files of every version must
    keep matching. The encoder behind ``json.dumps`` is made once rather than per line.
    """
    text = "".join(_ENCODE([target, action, content], 0))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _encoder() -> Callable[[object, int], Iterable[str]]:
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    if c_make_encoder is None:  # a Python without the C accelerator: the same, slower
        slow = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
        return lambda value, _: slow.iterencode(value)
    encode: Callable[[object, int], Iterable[str]] = c_make_encoder(
        None, str, encode_basestring, None, ": ", ", ", True, False, True
    )
    return encode


_ENCODE = _encoder()


class Dedupe:
    """Identical lines are told apart by their order: ``#2``, ``#3``... after the first."""

    def __init__(self) -> None:
        self._once: set[str] = set()  # most lines: seen once, kept small
        self._again: dict[str, int] = {}  # the few seen more often, and how often

    def __call__(self, fingerprint: str) -> str:
        if fingerprint not in self._once:
            self._once.add(fingerprint)
            return fingerprint
        times = self._again.get(fingerprint, 1) + 1
        self._again[fingerprint] = times
        return f"{fingerprint}#{times}"

    def text(self, part: Rendered) -> str:
        """A rendered part's text, each fingerprint told apart from the same earlier ones."""
        fresh = set(part.fingerprints)
        if len(fresh) == len(part.fingerprints) and self._once.isdisjoint(fresh):
            self._once |= fresh  # most parts: no line seen before, the text stands as it is
            return part.text
        pieces: list[str] = []
        start = 0
        for fingerprint, offset in zip(part.fingerprints, part.offsets, strict=True):
            pieces += (part.text[start:offset], self(fingerprint))
            start = offset + len(fingerprint)
        pieces.append(part.text[start:])
        return "".join(pieces)


@dataclass(frozen=True)
class Rules:
    """The action's spec applied to rows through the input's column map."""

    target: str
    action: str
    model: type[Spec]
    columns: ColumnMap
    reading: Reading
    #: sending to the built-in sandbox: its lines never count as done for the real vendor
    sandbox: bool = False

    @functools.cached_property
    def vendor(self) -> Vendor:
        return VENDORS[self.target]

    @functools.cached_property
    def _target(self) -> str:
        # a task made in the sandbox does not exist in the vendor: its lines are told apart
        return f"{self.target} sandbox" if self.sandbox else self.target

    def lines(self, row: Row) -> list[Line]:
        """The lines of one non-blank row."""
        values = self.columns.values(row)
        if row.extra:
            cells = {"values": values, "extra": row.extra}
            problem = _extra_cells(row, len(self.columns.headers))
            return self._invalid(row, values, cells, (problem,))
        key_env = self.columns.key_env(row) if self.columns.names_keys else ""
        verdict = check(self.model, values, reading=self.reading)
        if key_env and not _ENV_NAME.fullmatch(key_env):
            problem = Problem(KEY_ENV, f"{self.columns.source(KEY_ENV)} {_NOT_AN_ENV_NAME}")
            verdict = [*(verdict if not isinstance(verdict, Spec) else ()), problem]
        if not isinstance(verdict, Spec):
            return self._invalid(row, values, values, tuple(verdict))
        return [
            Line(row, ask.subject, self._fingerprint(_sent(ask.request)), ask, key_env=key_env)
            for ask in self.vendor.asks(verdict)
        ]

    def checked(self, row: Row) -> list[Checked]:
        """The lines of one non-blank row, as ``validate`` reports them."""
        checked = []
        for line in self.lines(row):
            if line.ask:
                outcome = VALID
                notes = line.ask.notes
                message = with_notes(VALID.error_message, notes) if notes else VALID.error_message
            else:
                outcome = self.invalid_outcome(line)
                message = outcome.error_message
            checked.append(Checked(line.prospect_id, line.fingerprint, outcome, message))
        return checked

    def invalid_outcome(self, line: Line) -> Outcome:
        """An invalid line's outcome: its fields as the code, a sentence for each problem."""
        return Outcome(
            status=Status.INVALID,
            error_code=";".join(dict.fromkeys(problem.field for problem in line.problems)),
            error_message="; ".join(self._sentence(problem) for problem in line.problems),
        )

    def _invalid(
        self, row: Row, values: Mapping[str, Cell], content: object, problems: tuple[Problem, ...]
    ) -> list[Line]:
        """One invalid line per subject the row names (one line when it names none)."""
        return [
            Line(
                row,
                subject,
                self._fingerprint([content, subject] if subject else content),
                None,
                problems,
            )
            for subject in self.vendor.named(values)
        ]

    def _fingerprint(self, content: object) -> str:
        return fingerprint(self._target, self.action, content)

    def _sentence(self, problem: Problem) -> str:
        if problem.field not in self.model.model_fields:
            return problem.message
        where = self.columns.source(problem.field)
        if problem.value is None:
            return f"{where} {problem.message}"
        return f'{where} = "{problem.value}" {problem.message}'


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_AN_ENV_NAME = (
    "does not hold the name of an environment variable (letters, digits and _, such as "
    "TEAM_B_LEMLIST_KEY): write there the name of the variable that holds the row's key, "
    "never the key itself"
)


def with_notes(message: str, notes: Sequence[str]) -> str:
    """``message`` and the line's notes, each once (a resumed message may hold them)."""
    said = [message] if message else []
    return "; ".join(said + [note for note in notes if note not in message])


def _sent(request: Request) -> list[object]:
    return [request.method, request.path, request.body]


def _extra_cells(row: Row, width: int) -> Problem:
    surplus = ", ".join(f'"{cell}"' for cell in row.extra)
    return Problem(
        "extra_cells",
        f"this row has {width + len(row.extra)} cells but the header has {width} columns "
        f"(the surplus: {surplus}): a value probably contains the delimiter without quotes; "
        "quote it or fix the row",
    )


# --- checking rows in helper processes ----------------------------------------------------

#: fewer rows than this are checked in this process: a helper's start-up would cost more
PARALLEL_FROM = 20_000
CHUNK = 2_000


#: a file this large probably has PARALLEL_FROM rows: its helpers' fork server starts early
WARM_FROM = 1 << 20


def warm_helpers(path: Path) -> None:
    """For a file large enough to want helpers, start the fork server they come from now:
    its imports (a few tenths of a second) then overlap this process's reading the file."""
    try:
        large = path.stat().st_size >= WARM_FROM
    except OSError:
        return  # opening the file will say what is wrong with it
    if large and helpers_for(None) and _helpers_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver  # where there is one (not on Windows)

        forkserver.ensure_running()


def helpers_for(total: int | None) -> int:
    """How many helper processes to check ``total`` rows with (0: none, check here).

    One per core, up to four: this process, which reads and writes, needs a share of a core
    only. A single helper (one core) would be slower than checking here.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (total is not None and total < PARALLEL_FROM) or (cores or 1) < 2:
        return 0
    return min(cores or 1, 4)


def checked_rows(
    rules: Rules, table: Table, *, helpers: int
) -> Iterator[tuple[Row, list[Checked] | None]]:
    """Each row with its lines as ``validate`` reports them (None: a blank row), in order.

    With ``helpers`` > 0, rows are checked in that many helper processes, a chunk at a
    time, with a few chunks on their way: memory stays flat and the order is kept.
    """
    rows = table.rows()
    if helpers <= 0:
        for row in rows:
            yield row, None if is_blank(row) else rules.checked(row)
        return
    with _pool(rules, helpers) as pool:
        source = iter(rows)
        chunks = iter(lambda: list(islice(source, CHUNK)), [])
        submitted = (
            # plain tuples: quicker to pickle than rows
            (chunk, pool.submit(_check_chunk, [(r.number, r.cells, r.extra) for r in chunk]))
            for chunk in chunks
        )
        for chunk, checked in _in_order(submitted, helpers):
            # plain tuples in the fields' order, as they came: Checked._make for each costs
            yield from zip(chunk, checked, strict=True)


def rendered_parts(rules: Rules, table: Table, *, helpers: int) -> Iterator[Rendered]:
    """``validate``'s CSV results lines, a part of the table at a time, in order: helpers
    read the table's parts themselves (a CSV file's spans, a sheet's raw values), check
    and render them; this process only writes."""
    if table.parts is None or helpers <= 0:
        raise ValueError("rendering needs helpers and a table read in parts")
    with _pool(rules, helpers) as pool:
        submitted = ((None, pool.submit(_render_part, *part)) for part in table.parts())
        for _, rendered in _in_order(submitted, helpers):
            yield rendered


def _pool(rules: Rules, helpers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        helpers, mp_context=_helpers_context(), initializer=_adopt, initargs=(rules,)
    )


def _in_order(submitted: Iterable[tuple[T, Future[R]]], helpers: int) -> Iterator[tuple[T, R]]:
    """The results of jobs as they were submitted, with a few on their way at once: the
    jobs are submitted only as their results are taken, so memory stays flat."""
    pending: deque[tuple[T, Future[R]]] = deque()
    for job in submitted:
        pending.append(job)
        if len(pending) > 2 * helpers + 1:
            what, future = pending.popleft()
            yield what, future.result()
    while pending:
        what, future = pending.popleft()
        yield what, future.result()


def _helpers_context() -> multiprocessing.context.BaseContext:
    """How helpers start: never a fork of this process, which may have threads (the
    progress bar's); a fork server that imported this module once, where there is one."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


_RULES: Rules | None = None  # a helper process's rules, set once when it starts
_RENDER: CsvLines | None = None


def _adopt(rules: Rules) -> None:
    global _RULES, _RENDER
    _RULES = rules
    _RENDER = CsvLines(len(rules.columns.headers))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def _render_part(read: Callable[..., list[Row]], arguments: tuple[Any, ...]) -> Rendered:
    assert _RULES is not None
    assert _RENDER is not None
    rows = read(*arguments)
    blank = 0
    counts: dict[Status, int] = {}
    fingerprints: list[str] = []
    offsets: list[int] = []
    text: list[str] = []
    at = 0
    for row in rows:
        if is_blank(row):
            blank += 1
            continue
        for prospect_id, fingerprint, outcome, message in _RULES.checked(row):
            head, tail = _RENDER(row, outcome, prospect_id, message)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            fingerprints.append(fingerprint)
            offsets.append(at + len(head))
            text += (head, fingerprint, tail)
            at += len(head) + len(fingerprint) + len(tail)
    return Rendered(len(rows), blank, counts, fingerprints, offsets, "".join(text))


def _check_chunk(rows: list[tuple[int, tuple[Cell, ...], tuple[str, ...]]]) -> list[Any]:
    return _check_rows([Row(*plain) for plain in rows])


def _check_rows(rows: list[Row]) -> list[Any]:
    assert _RULES is not None
    # plain tuples: they pickle faster than the named ones they stand for
    return [None if is_blank(row) else list(map(tuple, _RULES.checked(row))) for row in rows]
