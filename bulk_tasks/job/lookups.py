"""When lines are looked up: at the end of a run, before ``--resume`` sends, and on demand.

One procedure looks lines up, :class:`LookupRounds`: it waits out the quiet period, has the
:class:`~bulk_tasks.job.resolver.Resolver` look the lines up, sends again those that never
landed, and looks up again, after a quiet period of their own, those whose resend got no
answer either, for at most :data:`LOOKUP_ROUNDS` rounds. What differs between its uses is a
:class:`LookupPlan`, given to it:

- at the end of a run (:class:`Recovery`): the run's own ``unknown`` lines, held back as
  they come (their journal line is written at once, so a kill loses nothing); the quiet
  period counts from the last of them; a task cannot have been marked done yet; each line's
  last word goes through the gate like any other line's;
- before ``--resume`` sends, and in ``bulk-tasks resolve`` (:class:`EarlierLookup`): an
  earlier run's ``unknown`` lines, rebuilt from the results file's own cells; the quiet
  period counts from the file's last change; a lemlist task may have been marked done if the
  run is older than :data:`RECENT`; each line's last word is written to the journal and told
  to the run's :class:`~bulk_tasks.job.state.EarlierRun`, which the gate reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..results import (
    RESULT_COLUMNS,
    Looked,
    Lookup,
    Outcome,
    Status,
    input_columns,
    result_headers,
)
from ..results.formats import LineCells, read_lines
from ..results.messages import counted
from ..rows.inputs import Row
from ..rows.rules import Line, Repeats, Rules
from ..sending.lanes import Lanes
from ..vendors.base import Ask
from .progress import Progress
from .resolver import RECENT, Resolver, Unresolved, looked_up, never_answered, sent_again
from .summary import Resolved

if TYPE_CHECKING:
    from .claims import Claims
    from .state import Run

#: called with a line and its last word
RecordLine = Callable[[Line, Outcome], None]

#: How many times a line is looked up at most. A line is still unknown after k rounds when
#: its first send and the resends of the first k - 1 rounds never landed and the resend of
#: round k got no answer either. If a share p of the sends gets no answer and half of those
#: never land, that is (p/2)^k * p of the lines: with p = 10% (a bad day: 5% of the answers
#: cut off after the task was made, 5% before), of 400 lines 1 round leaves 2 unknown, 2
#: rounds 0.1 (one run in ten leaves one), 3 rounds 0.005 (one run in 200). A round after
#: the first happens only for lines whose resend got no answer, and costs a quiet period
#: (--timeout, 30 s by default) with its lookups and resends; at p = 10%, 400 lines need a
#: second round nearly always, a third one run in ten, a fourth one run in 200. Where every
#: resend hangs, the two later rounds add at most four times --timeout to the run.
LOOKUP_ROUNDS = 3


#: what a line that cannot be rebuilt from its cells says (the request sent is not known)
NOT_REBUILT = (
    "its cells in the results file no longer give the request that was sent (another --map, "
    "--set, --timezone or --date-format?); give the run's options, or look for it in {vendor}"
)


class LineEnds(Protocol):
    """How a looked-up line's last word is recorded."""

    def ended(self, line: Line, outcome: Outcome) -> None:
        """``line`` ends with ``outcome``: found, sent again, or, its last resend unanswered,
        unknown naming each round. Written to the journal, its task is known to the run
        from then on: a later round takes it for no other line."""

    def still_unknown(self, line: Line, outcome: Outcome) -> None:
        """A lookup left ``line`` unknown (the list could not be read, or held more tasks
        than lines asked for): ``outcome`` says so."""


@dataclass(frozen=True)
class LookupPlan:
    """Lines left unknown, to look up, and what tells the end of a run from ``--resume`` and
    ``resolve``."""

    #: the lines, each with the outcome it ended with
    lines: Sequence[Unresolved]
    #: when the quiet period starts, on the event loop's clock: the last line's send
    quiet_from: float
    #: whether the lines were sent minutes ago at most (a lemlist task cannot have been
    #: marked done yet, so a task not found never landed)
    recent: bool
    #: how each line's last word is recorded
    ends: LineEnds
    #: a refused key stops the whole run (else only its own lines)
    refusal_stops_run: bool
    #: whose lines they are, as the wait for the first round says it ("an earlier run's ")
    whose: str = ""


class Recovery:
    """A run's ``unknown`` creates, held back until they are looked up once the run has sent
    everything; the other lines' outcomes pass on at once, to ``record``."""

    def __init__(self, run: Run, *, record: RecordLine, claims: Claims | None = None) -> None:
        self._run = run
        self._record = record
        self._claims = claims
        self._on = run.looks_up
        self._held: dict[int, Unresolved] = {}
        self._last = 0.0  # when the last line was held (the loop's clock)

    def take(self, line: Line, outcome: Outcome) -> None:
        """What became of a line the run sent: an unknown create is held back, to be looked
        up; any other outcome passes on."""
        edit = self._claims is not None and self._claims.is_edit(line)  # no create to look up
        if not self._on or outcome.status is not Status.UNKNOWN or edit:
            self._record(line, outcome)
            return
        # on disk at once: a run killed before the lookup leaves the line unknown, as it is
        self._run.journal.write(line.row, line.complete(outcome), line.fingerprint)
        self._held[id(line)] = Unresolved(line, outcome)
        self._last = asyncio.get_running_loop().time()

    async def finish(self, lanes: Lanes, *, refusal_stops_run: bool) -> None:
        """Look up the held lines, send again those that never landed, for as many rounds as
        it takes (:class:`LookupRounds`); every held line is recorded, looked up or not (a
        stop leaves the rest as they were)."""
        try:
            lookup = LookupPlan(
                list(self._held.values()),
                quiet_from=self._last,
                recent=True,
                ends=self,
                refusal_stops_run=refusal_stops_run,
            )
            await LookupRounds(self._run, lanes, lookup).look_up()
        finally:
            for item in list(self._held.values()):
                self.ended(item.line, item.outcome)

    def ended(self, line: Line, outcome: Outcome) -> None:
        """A held line's last word, which passes on like any other line's."""
        if self._held.pop(id(line), None) is not None:
            self._record(line, outcome)

    def still_unknown(self, line: Line, outcome: Outcome) -> None:
        """A held line the lookup left unknown: its last word too."""
        self.ended(line, outcome)


class EarlierLookup:
    """An earlier run's unknown creates, rebuilt from the results file's own cells and
    looked up: what ``--resume`` does before it sends anything, and what
    ``bulk-tasks resolve`` does alone (``headers``: the input's).

    A line found or sent again is written to the journal, and the gate records it so in
    place of sending it; a line that stays unknown gets its new message in the journal and
    in the earlier run's word on it, and is left to the run's own rules."""

    def __init__(
        self, run: Run, rules: Rules, headers: Sequence[str], *, claims: Claims | None = None
    ) -> None:
        self._run = run
        self._rules = rules
        self._headers = headers
        self._claims = claims

    async def look_up(self, lanes: Lanes) -> None:
        """Look the lines up through ``lanes``, the quiet period counted from the file's last
        change; a line whose cells no longer give its request stays unknown, saying so."""
        run = self._run
        unknown = run.earlier.unknown()
        if not unknown or not run.looks_up:
            return
        items, lost = _rebuilt(run.journal.file, self._rules, self._headers, unknown)
        for fingerprint, (row, outcome) in lost.items():
            said = NOT_REBUILT.format(vendor=run.settings.vendor.name)
            not_rebuilt = Lookup(Looked.STILL_UNKNOWN, said=said)
            self._leave_unknown(row, fingerprint, looked_up(outcome, not_rebuilt))
            run.summary.resolved[Resolved.STILL_UNKNOWN] += 1
        if not items:
            return
        age = time.time() - run.earlier.changed
        lookup = LookupPlan(
            items,
            quiet_from=asyncio.get_running_loop().time() - age,
            recent=age < RECENT,
            ends=self,
            refusal_stops_run=True,
            whose="an earlier run's ",
        )
        await LookupRounds(run, lanes, lookup).look_up()

    def ended(self, line: Line, outcome: Outcome) -> None:
        """Written to the journal; the gate records it so in place of sending the line."""
        if self._claims is not None:  # in the task ledger before the results file
            outcome = self._claims.ended(line, outcome)
        complete = line.complete(self._rules.worded(outcome))
        self._run.journal.write(line.row, complete, line.fingerprint)
        self._run.earlier.decide(line.fingerprint, complete)

    def still_unknown(self, line: Line, outcome: Outcome) -> None:
        """The earlier run's new word on the line."""
        self._leave_unknown(line.row, line.fingerprint, line.complete(outcome))

    def _leave_unknown(self, row: Row, fingerprint: str, outcome: Outcome) -> None:
        """Said in the file, and left to the run's rules (``--retry-unknown`` sends it)."""
        self._run.journal.write(row, outcome, fingerprint)
        self._run.earlier.leave_unknown(fingerprint, outcome)


async def quiet_period(
    looked_up: str, *, seconds: float, progress: Progress, stop: asyncio.Event
) -> None:
    """Wait ``seconds`` for late answers (a stop ends the wait), saying so, before looking
    up ``looked_up`` ("2 unknown rows at lemlist")."""
    if seconds <= 0:
        progress.notice(f"Looking up {looked_up}")
        return
    progress.wait(f"for late answers before looking up {looked_up}", seconds=seconds)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class LookupRounds:
    """The lines of a :class:`LookupPlan`, looked up round after round until each has its last
    word.

    A round waits out the quiet period, looks the lines up, and sends again those that never
    landed; the lines whose resend got no answer either go to the next round, whose quiet
    period counts from the last of those, for at most :data:`LOOKUP_ROUNDS` rounds. Each
    line ends through the lookup's ``ends``: ended (found, sent again, or, its last resend
    unanswered, unknown naming each round), or still unknown (a lookup left it so). A task
    found or made is known to the run from then on. A stop ends the wait; a line sent again
    ends unknown naming its rounds so far, and the others are left as they were.
    """

    def __init__(self, run: Run, lanes: Lanes, lookup: LookupPlan) -> None:
        self._run = run
        self._lanes = lanes
        self._lookup = lookup
        self._resolver = Resolver(
            run.settings.vendor, lanes.sender, known_tasks=run.known_tasks, recent=lookup.recent
        )
        #: the lines still to end, by id(line), each with its rounds so far: after a
        #: round, those whose resend got no answer, for the next
        self._waiting: dict[int, Unresolved] = {}
        self._unanswered_at = 0.0  # when a resend last got no answer (the loop's clock)
        self._sent_again = 0

    async def look_up(self) -> None:
        """Every line of the lookup, round after round, to its last word."""
        run, lookup = self._run, self._lookup
        loop = asyncio.get_running_loop()
        timeout, vendor = run.settings.timeout, run.settings.vendor
        pending = list(lookup.lines)
        self._waiting = {id(item.line): item for item in pending}
        wait = lookup.quiet_from + timeout - loop.time()
        unknown = counted(len(pending), f"unknown {run.summary.line_noun}")
        looked_up = f"{lookup.whose}{unknown} at {vendor.name}"
        try:
            for _ in range(LOOKUP_ROUNDS):
                if not pending or run.stop.is_set():
                    break
                if any(map(self._resolver.can_look_up, pending)):
                    await quiet_period(
                        looked_up, seconds=wait, progress=run.progress, stop=run.stop
                    )
                if run.stop.is_set():
                    break
                pending = await self._round(pending)
                wait = self._unanswered_at + timeout - loop.time()
                unknown = counted(len(pending), f"unknown {run.summary.line_noun}")
                looked_up = f"{unknown} at {vendor.name} again"
        finally:
            for item in self._waiting.values():
                if item.resent:
                    self._sent_again += 1
                    self._end(item.line, never_answered(item, vendor))
            run.summary.resolved.update(self._resolver.tally)
            run.summary.resolved[Resolved.SENT_AGAIN] += self._sent_again

    async def _round(self, items: Sequence[Unresolved]) -> list[Unresolved]:
        """Look ``items`` up, send again those that never landed; returns those whose
        resend got no answer, for the next round (none after the last)."""
        decided, again = await self._resolver.resolve(items)
        for line, outcome in decided:
            del self._waiting[id(line)]
            if outcome.status is Status.UNKNOWN:
                self._lookup.ends.still_unknown(line, outcome)
            else:
                self._end(line, outcome)
        if again:
            sending = self._run.sending(
                self._lanes,
                ask_of=_ask,
                on_outcome=self._resent,
                refusal_stops_run=self._lookup.refusal_stops_run,
            )
            await sending.send_all([item.line for item in again])
        return list(self._waiting.values())

    def _resent(self, line: Line, outcome: Outcome) -> None:
        """A line sent again this round ended with ``outcome``."""
        item = self._waiting.pop(id(line))
        vendor = self._run.settings.vendor
        if outcome.status is Status.UNKNOWN:
            self._unanswered_at = asyncio.get_running_loop().time()
            rounds_left = item.round < LOOKUP_ROUNDS  # every line of a round is in it alike
            item = replace(item, resent=(*item.resent, outcome))
            if rounds_left:
                self._waiting[id(line)] = item
                return
            outcome = never_answered(item, vendor)
        else:
            outcome = sent_again(item, outcome, vendor)
        self._sent_again += 1
        self._end(line, outcome)

    def _end(self, line: Line, outcome: Outcome) -> None:
        self._lookup.ends.ended(line, outcome)


def _rebuilt(
    path: Path, rules: Rules, headers: Sequence[str], unknown: dict[str, Outcome]
) -> tuple[list[Unresolved], dict[str, tuple[Row, Outcome]]]:
    """The lines of ``unknown`` rebuilt from their rows' cells in the results file (the
    input's ``headers`` say which columns), and those whose cells no longer give the
    fingerprint they were sent with."""
    columns = result_headers(headers)[len(RESULT_COLUMNS) :]
    items: list[Unresolved] = []
    lost: dict[str, tuple[Row, Outcome]] = {}
    seen: set[str] = set()
    with read_lines(path) as (_, lines):
        for cells in lines:
            fingerprint = cells.get("fingerprint", "")
            outcome = unknown.get(fingerprint)
            if outcome is None or fingerprint in seen:
                continue
            seen.add(fingerprint)
            row = _row_of(cells, columns)
            line = _line_of(rules, row, fingerprint, cells.get("prospect_id", ""))
            if line is None:
                lost[fingerprint] = (row, outcome)
            else:
                items.append(Unresolved(line, outcome))
    return items, lost


def results_rows(path: Path, headers: Sequence[str]) -> Iterator[Row]:
    """The input's rows as the results file at ``path`` holds them, a row once per line."""
    columns = result_headers(headers)[len(RESULT_COLUMNS) :]
    with read_lines(path) as (_, lines):
        for cells in lines:
            yield _row_of(cells, columns)


def _row_of(cells: LineCells, columns: Sequence[str]) -> Row:
    return Row(int(cells.get("row") or 0), tuple(cells.get(name, "") for name in columns))


def _line_of(rules: Rules, row: Row, fingerprint: str, prospect_id: str) -> Line | None:
    for line in rules.lines(row):
        if (
            line.ask is not None
            and Repeats.told_apart(fingerprint, line.fingerprint)
            and line.prospect_id == prospect_id
        ):
            line.fingerprint = fingerprint
            return line
    return None


def _ask(line: Line) -> Ask | None:
    return line.ask


def input_headers(columns: Sequence[str]) -> list[str]:
    """The input's own headers, from a results file's columns (ours come first; an input
    column named like one of ours was written with " (input)" after it)."""
    ours = {name.lower() for name in RESULT_COLUMNS}
    own = input_columns(columns)
    suffix = " (input)"
    return [
        name[: -len(suffix)]
        if name.endswith(suffix) and name[: -len(suffix)].lower() in ours
        else name
        for name in own
    ]
