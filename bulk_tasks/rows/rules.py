"""Rows -> lines: what each row asks of the vendor, or why it cannot be sent.

A row becomes one or more :class:`Line` (one per row for lemlist, one per prospect for
Saleshandy): what the line asks for and its fingerprint, or the problems that keep it from
being sent. The vendors' pydantic specs hold every rule; :class:`Rules` applies them to a
row with the input's column map. ``validate`` reports each line as its
:class:`~bulk_tasks.results.Outcome` (:data:`VALID`, or :meth:`Rules.invalid_outcome`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..results import Outcome, Status, destination_of
from ..results.messages import listed
from ..vendors import VENDORS
from ..vendors.base import Ask, Problem, Request, Spec, Vendor, check
from .cells import Reading
from .columns import KEY_ENV, ColumnMap
from .inputs import Cell, Row


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
    #: the row's own key, with ``--row-key`` ("": none given)
    row_key: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        return self.ask.notes if self.ask else ()

    def complete(self, outcome: Outcome) -> Outcome:
        """``outcome`` as this line's results line says it: with its prospect and notes."""
        notes = self.notes
        if not notes and outcome.prospect_id == self.prospect_id:
            return outcome
        if notes:
            outcome = outcome.with_facts(replace(outcome.said, notes=notes))
        return replace(outcome, prospect_id=self.prospect_id)


#: how ``validate`` reports a valid line
VALID = Outcome(
    status=Status.NOT_SENT,
    error_code="valid",
    error_message="valid: `bulk-tasks run` would send it",
)


def fingerprint(target: str, action: str, content: object) -> str:
    """A short hash of what a line asks for: equal for equal lines, wherever they stand.

    The hash is of ``json.dumps([target, action, content], sort_keys=True,
    ensure_ascii=False, default=str)``, byte for byte: results files of every version must
    keep matching. The encoder is made once rather than per line.
    """
    text = _FINGERPRINT_JSON([target, action, content])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# json.dumps's own separators; no check for cycles: a line's content is a tree of cells
_FINGERPRINT_JSON = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, default=str, check_circular=False
).encode


#: what tells a repeated line's fingerprint from the first's: ``#2``, ``#3``...
REPEAT = "#"


class Repeats:
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
        return f"{fingerprint}{REPEAT}{times}"

    @staticmethod
    def told_apart(fingerprint: str, first: str) -> bool:
        """Whether ``fingerprint`` is that of a line whose first has ``first``: the first
        itself, or a repeat told apart from it."""
        return fingerprint == first or fingerprint.startswith(f"{first}{REPEAT}")


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
    def destination(self) -> str:
        """Where the lines go: a task made in the sandbox does not exist in the vendor, so
        its lines are told apart (their fingerprints, and the results' ``destination``)."""
        return destination_of(self.target, sandbox=self.sandbox)

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

    def invalid_outcome(self, line: Line) -> Outcome:
        """An invalid line's outcome: its fields as the code, a sentence for each problem."""
        return Outcome(
            status=Status.INVALID,
            prospect_id=line.prospect_id,
            error_code=";".join(dict.fromkeys(problem.field for problem in line.problems)),
            error_message="; ".join(self._sentence(problem) for problem in line.problems),
        )

    def reasons(self, line: Line) -> tuple[str, ...]:
        """Why an invalid line is refused, a sentence per problem that names no cell's value:
        lines refused for the same cause of the same column say the same words."""
        return tuple(
            dict.fromkeys(
                self._said(problem.field, problem.reason or problem.message, None)
                for problem in line.problems
            )
        )

    def worded(self, outcome: Outcome) -> Outcome:
        """``outcome`` with the cells its vendor's message names (``facts.cells``) named by
        the user's own columns."""
        facts = outcome.facts
        if facts is None or facts.cells is None:
            return outcome
        where = self._cells(facts.cells.fields)
        return outcome.with_facts(replace(facts, cells=replace(facts.cells, where=where)))

    def _cells(self, fields: Sequence[str]) -> str:
        """Where the user gave ``fields``: the "Linked Records" and "Assignees" cells, or the
        "Task" cell and --set assignees."""
        columns = self.columns
        headers = [
            f'"{columns.headers[columns.columns[f]]}"' for f in fields if f in columns.columns
        ]
        options = [f"--set {field}" for field in fields if field in columns.constants]
        if not headers and not options:  # given nowhere: say the fields' own names
            headers = list(fields)
        cells = [f"the {listed(headers)} cell{'s' * (len(headers) > 1)}"] if headers else []
        return listed(cells + options)

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
        return fingerprint(self.destination, self.action, content)

    def _sentence(self, problem: Problem) -> str:
        return self._said(problem.field, problem.message, problem.value)

    def _said(self, field: str, message: str, value: str | None) -> str:
        if field not in self.model.model_fields:
            return message
        where = self.columns.source(field)
        if value is None:
            return f"{where} {message}"
        return f'{where} = "{value}" {message}'


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_NOT_AN_ENV_NAME = (
    "does not hold the name of an environment variable (letters, digits and _, such as "
    "TEAM_B_LEMLIST_KEY): write there the name of the variable that holds the row's key, "
    "never the key itself"
)


def _sent(request: Request) -> list[object]:
    return [request.method, request.path, request.body]


def _extra_cells(row: Row, width: int) -> Problem:
    surplus = ", ".join(f'"{cell}"' for cell in row.extra)
    return Problem(
        "extra_cells",
        f"this row has {width + len(row.extra)} cells but the header has {width} columns "
        f"(the surplus: {surplus}): a value probably contains the delimiter without quotes; "
        "quote it or fix the row",
        reason="more cells than the header has columns: a value probably contains the "
        "delimiter without quotes; quote it or fix the row",
    )
