"""What a line's ``error_message`` says, as facts, and the one place it is worded.

An :class:`~bulk_tasks.results.Outcome` says what happened in :class:`Facts`: what was said
first (by the vendor, the sender or our own checks), the input fields whose cells that
names, what looking the line up at the vendor found, the line's notes, and the option that
would send it again when ``--resume`` left it alone. :func:`render_message` words them, and
nothing else does; the code that decides what becomes of a line reads the facts, never the
text.

An outcome's way to the disk: the vendor's :class:`~bulk_tasks.vendors.base.Answer` (with
the fields its words name) becomes an outcome in the sender; a lookup adds what it found
(:mod:`bulk_tasks.job.resolver`); the gate names the fields' cells by the user's columns
(:meth:`~bulk_tasks.rows.rules.Rules.worded`); the recorder adds the line's prospect and notes
(:meth:`~bulk_tasks.rows.rules.Line.complete`) and writes it (:meth:`Journal.write
<bulk_tasks.results.Journal.write>`), whose cells hold ``error_message`` as worded here.

The results file is also the journal, and its wording is kept from version to version, so a
results file read back (``--resume``, ``bulk-tasks resolve``) turns a message back into facts
when they are asked for (:attr:`Outcome.said <bulk_tasks.results.Outcome.said>`):
:func:`read_message`, the inverse of :func:`render_message`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

#: how a message counts a line's lookup rounds
ORDINALS = ("first", "second", "third", "fourth", "fifth")


class Looked(StrEnum):
    """What became of a line looked up at the vendor."""

    FOUND = "found"  # its task was found: created
    STILL_UNKNOWN = "still unknown"  # the lookup could not tell, and says why
    SENT_AGAIN = "sent again"  # no task was found: sent again, and answered
    NEVER_ANSWERED = "never answered"  # sent again, and its last resend got no answer


@dataclass(frozen=True)
class Lookup:
    """What looking a line up said: ``resends``, how many earlier rounds found no task and
    sent it again without an answer; ``vendor``, where it was looked up (found, sent again,
    never answered); ``said``, why the lookup left it unknown (still unknown)."""

    looked: Looked
    resends: int = 0
    vendor: str = ""
    said: str = ""


@dataclass(frozen=True)
class NamedCells:
    """A message's words about the cells of some input ``fields``: after the message said
    first, where the user gave those fields (``where``, worded by the run from its column
    map; blank: the fields' own names), then ``then``."""

    fields: tuple[str, ...]
    then: str
    where: str = ""


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What a line's message says, as data (see :func:`render_message`)."""

    said: str = ""
    cells: NamedCells | None = None
    lookup: Lookup | None = None
    #: said on the line whatever became of it (a prospect given twice in the row, say)
    notes: tuple[str, ...] = field(default=())
    #: the option that sends the line again, when ``--resume`` left it alone
    left_alone: str = ""


def fields_named(fields: Sequence[str]) -> str:
    """The cells of ``fields`` named by the fields alone: "the linked_records and assignees
    cells" (a run names the user's own columns instead)."""
    return f"the {listed(list(fields))} cell{'s' * (len(fields) > 1)}"


def counted(count: int, noun: str) -> str:
    """A count and its plural noun as a sentence says them: "1 row", "2 rows", "1 prospect",
    "1,250 lines" (every noun a summary counts makes its plural with an s)."""
    return f"{count:,} {noun.removesuffix('s') if count == 1 else noun}"


def listed(words: Sequence[str]) -> str:
    """Words as a sentence lists them: "a", "a and b", "a, b and c"."""
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else "".join(words)


# --- words -------------------------------------------------------------------------------------


def render_message(facts: Facts) -> str:
    """The ``error_message`` of a results line: the one place it is worded from its facts."""
    text = facts.said
    if facts.cells is not None:
        cells = facts.cells
        text += (cells.where or fields_named(cells.fields)) + cells.then
    if facts.lookup is not None:
        text = _with_lookup(text, facts.lookup)
    said = [text] if text else []
    text = "; ".join(said + [note for note in facts.notes if note not in text])
    if facts.left_alone:
        text += f"{_LEFT_ALONE}{facts.left_alone}]"
    return text


def _with_lookup(said: str, lookup: Lookup) -> str:
    resends, nth = lookup.resends, ORDINALS[lookup.resends]
    if lookup.looked is Looked.FOUND:
        if not resends:
            return f"{_NO_ANSWER}found at {lookup.vendor} afterwards"
        return (
            f"{_NO_ANSWER}{_rounds(resends, resends + 1)}; found at {lookup.vendor} the {nth} time"
        )
    if lookup.looked is Looked.SENT_AGAIN:
        note = f"sent again: {lookup.vendor} had no such task after no answer came"
        if resends:
            note += f" ({_rounds(resends, resends + 1)}; no task the {nth} time, so sent again)"
        return f"{said}; {note}" if said else note
    if lookup.looked is Looked.NEVER_ANSWERED:
        return (
            f"{said} [{_rounds(resends, resends)}: its last send may have landed, so look for "
            f"it in {lookup.vendor}, and if it is missing, run again with --resume "
            "--retry-unknown]"
        )
    if resends:
        return f"{said} [{_rounds(resends, resends + 1)}; the {nth} time, {lookup.said}]"
    return f"{said} [looked up: {lookup.said}]"


def _rounds(resends: int, times: int) -> str:
    """ "looked up 3 times: " and the rounds that sent the line again without an answer: "no
    task the first time, so sent again, no answer; no task the second time, …"."""
    rounds = "; ".join(
        f"no task the {ORDINALS[number]} time, so sent again, no answer"
        for number in range(resends)
    )
    return f"looked up {'once' if times == 1 else f'{times} times'}: {rounds}"


_NO_ANSWER = "no answer came when it was sent; "
_LEFT_ALONE = " [left alone by --resume; to send it again add "
_SENT_AGAIN_WORDS = "had no such task after no answer came"


# --- reading words back ------------------------------------------------------------------------


def read_message(text: str) -> Facts:
    """The facts of a message a results file holds: the inverse of :func:`render_message`.

    What was said first comes back as it reads, its cells' words included (a file does not
    say which fields they were); notes come back only after a lookup's words, as one.
    """
    left_alone = ""
    before, mark, option = text.rpartition(_LEFT_ALONE)
    if mark and option.endswith("]") and "]" not in option[:-1]:  # the last words said
        text, left_alone = before, option[:-1]
    for read in _READERS:
        facts = read(text)
        if facts is not None:
            return Facts(
                said=facts.said, lookup=facts.lookup, notes=facts.notes, left_alone=left_alone
            )
    return Facts(said=text, left_alone=left_alone)


def _times(words: str) -> int:
    return 1 if words == "once" else int(words.split()[0])


def _found(text: str) -> Facts | None:
    read = _FOUND.fullmatch(text)
    if read is None:
        return None
    resends = ORDINALS.index(read["nth"]) if read["nth"] else 0
    lookup = Lookup(Looked.FOUND, resends=resends, vendor=read["vendor"])
    return Facts(lookup=lookup, notes=_notes(read["notes"]))


def _sent_again(text: str) -> Facts | None:
    read = _SENT_AGAIN.fullmatch(text) if _SENT_AGAIN_WORDS in text else None
    if read is None:
        return None
    resends = ORDINALS.index(read["nth"]) if read["nth"] else 0
    lookup = Lookup(Looked.SENT_AGAIN, resends=resends, vendor=read["vendor"])
    return Facts(said=read["said"] or "", lookup=lookup, notes=_notes(read["notes"]))


def _bracket(text: str) -> Facts | None:
    said, mark, rest = text.partition(" [looked up")
    if not mark:
        return None
    rest = mark[2:] + rest
    if rest.endswith("]"):
        words, notes = rest[:-1], ""
    else:
        words, _, notes = rest.rpartition("]; ")
    lookup = _bracket_lookup(words)
    if lookup is None:
        return None
    return Facts(said=said, lookup=lookup, notes=_notes(notes))


def _bracket_lookup(words: str) -> Lookup | None:
    if words.startswith("looked up: "):
        return Lookup(Looked.STILL_UNKNOWN, said=words.removeprefix("looked up: "))
    read = _NEVER_ANSWERED.fullmatch(words)
    if read is not None:
        resends = _times(read["times"])
        return Lookup(Looked.NEVER_ANSWERED, resends=resends, vendor=read["vendor"])
    read = _STILL_UNKNOWN.fullmatch(words)
    if read is not None:
        return Lookup(Looked.STILL_UNKNOWN, resends=ORDINALS.index(read["nth"]), said=read["said"])
    return None


def _notes(words: str | None) -> tuple[str, ...]:
    return (words,) if words else ()


_ORDINAL = "|".join(ORDINALS)
_ROUNDS = (
    rf"looked up (?:once|\d+ times): "
    rf"(?:no task the (?:{_ORDINAL}) time, so sent again, no answer(?:; )?)*"
)
_FOUND = re.compile(
    rf"{re.escape(_NO_ANSWER)}(?:{_ROUNDS}; )?found at (?P<vendor>.+?) "
    rf"(?:afterwards|the (?P<nth>{_ORDINAL}) time)(?:; (?P<notes>.*))?",
    re.DOTALL,
)
_SENT_AGAIN = re.compile(
    rf"(?:(?P<said>.*?); )?sent again: (?P<vendor>.+?) had no such task after no answer came"
    rf"(?: \({_ROUNDS}; no task the (?P<nth>{_ORDINAL}) time, so sent again\))?"
    r"(?:; (?P<notes>.*))?",
    re.DOTALL,
)
_NEVER_ANSWERED = re.compile(
    r"looked up (?P<times>once|\d+ times): .*: its last send may have landed, so look for it "
    r"in (?P<vendor>.+), and if it is missing, run again with --resume --retry-unknown",
    re.DOTALL,
)
_STILL_UNKNOWN = re.compile(
    rf"{_ROUNDS}; the (?P<nth>{_ORDINAL}) time, (?P<said>.*)",
    re.DOTALL,
)
_READERS: tuple[Callable[[str], Facts | None], ...] = (_found, _bracket, _sent_again)
