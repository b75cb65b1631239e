"""What a line of the results file says: its :class:`Outcome`, and the columns that hold it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from ..errors import ResultsError
from .messages import Facts, read_message, render_message

#: the columns every results file starts with, in every version of this tool
CORE_COLUMNS = (
    "row",
    "status",
    "remote_id",
    "prospect_id",
    "http_status",
    "error_code",
    "error_message",
    "attempts",
    "fingerprint",
)
#: where the run sent its lines: the vendor ("lemlist"), or its emulator ("lemlist sandbox"),
#: whose tasks never exist at the vendor; files written before it was added lack it
DESTINATION = "destination"
RESULT_COLUMNS = (*CORE_COLUMNS, DESTINATION)
FORMATS = (".csv", ".jsonl", ".xlsx")


class Status(StrEnum):
    """How a line ended, as the ``status`` column of the results file says it.

    ``created``, ``updated`` and ``skipped`` (done by an earlier run) are done. ``invalid``:
    our own checks refused it, nothing was sent. ``failed``: the vendor refused it.
    ``unknown``: it was sent and no answer came back, so the task may exist. ``not_sent``:
    the run stopped before it. ``sending`` is only ever in a results file that a killed run
    left, for a line on its way.
    """

    CREATED = "created"  # done
    UPDATED = "updated"  # done
    INVALID = "invalid"  # refused by our own validation, never sent
    FAILED = "failed"  # refused by the vendor
    UNKNOWN = "unknown"  # sent, but the outcome could not be learned: it may exist
    NOT_SENT = "not_sent"  # the run stopped before it
    SKIPPED = "skipped"  # already done by an earlier run of the same results file
    SENDING = "sending"  # journal only: on its way; a later line for the row supersedes it


DONE = frozenset({Status.CREATED, Status.UPDATED, Status.SKIPPED})
#: what a line may say about a task that exists, or may: never dropped from the file
EXISTS_OR_MAY = frozenset({*DONE, Status.UNKNOWN, Status.SENDING})

INTERRUPTED = (
    "the run was stopped while this row was being sent; it may have been applied: check "
    "in the vendor's app, then run again with --resume --retry-unknown to send it anyway"
)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What became of one line: the columns of the results file between the row number and
    the fingerprint.

    ``facts`` says what the message says, as data (found by a lookup, left alone by
    ``--resume``, the cells a vendor's message names); ``error_message`` is then their words
    (:meth:`with_facts`). Without facts, the message is what was said, as it stands.
    """

    status: Status
    remote_id: str = ""
    prospect_id: str = ""
    http_status: int | None = None
    error_code: str = ""
    error_message: str = ""
    attempts: int = 0
    facts: Facts | None = None

    def with_facts(self, facts: Facts) -> Outcome:
        """This outcome saying ``facts``, its message worded from them."""
        return replace(self, facts=facts, error_message=render_message(facts))

    @property
    def said(self) -> Facts:
        """What the message says, as facts: those it was made with, or those its words say
        (a line read back from a results file: :func:`~bulk_tasks.results.messages.read_message`;
        a vendor's or the sender's own words read as said)."""
        return self.facts if self.facts is not None else read_message(self.error_message)


@dataclass(frozen=True, slots=True)
class SentBefore:
    """A line that another results file says exists, or may: sent before, by another run.

    ``status`` is its last word there (created, updated, skipped, or unknown: a ``sending``
    mark reads as unknown), ``remote_id`` its task; ``results`` and ``row`` say where.
    """

    status: Status
    remote_id: str
    error_code: str
    results: Path
    row: int


def default_path(input_path: Path, *, suffix: str = ".results.csv") -> Path:
    return input_path.with_name(input_path.stem + suffix)


def check_format(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ResultsError(
            f"--results {path}: the extension says the format; use .csv, .jsonl or .xlsx"
        )


def result_headers(input_headers: Sequence[str]) -> list[str]:
    """Our columns, then the input's own; an input column named like ours gets a suffix."""
    taken = {name.lower() for name in RESULT_COLUMNS}
    own = [f"{name} (input)" if name.lower() in taken else name for name in input_headers]
    return [*RESULT_COLUMNS, *own]


def input_columns(headers: Sequence[str]) -> list[str]:
    """The input's columns of a results file, as the file names them: those after ours
    (``destination`` is ours only in the files that have it)."""
    start = len(CORE_COLUMNS)
    if tuple(headers[start : start + 1]) == (DESTINATION,):
        start += 1
    return list(headers[start:])


#: what a destination adds to its vendor's name when the lines went to the built-in sandbox
SANDBOX = " sandbox"


def destination_of(target: str, *, sandbox: bool) -> str:
    """The ``destination`` a run writes on its lines."""
    return f"{target}{SANDBOX}" if sandbox else target


def is_sandbox(destination: str) -> bool:
    """Whether lines of ``destination`` went to the built-in sandbox: no task of theirs
    exists at the vendor."""
    return destination.endswith(SANDBOX)


def vendor_of(destination: str) -> str:
    """The vendor ``destination`` is, or emulates."""
    return destination.removesuffix(SANDBOX)


def is_xlsx(path: Path) -> bool:
    return path.suffix.lower() == ".xlsx"


def journal_path(path: Path) -> Path:
    """Where lines go while a run works: the results file itself, or beside an XLSX."""
    return path.with_name(path.name + ".partial.csv") if is_xlsx(path) else path
