"""When lines are looked up: at the end of a run, before ``--resume`` sends, and on demand.

- :class:`LookupRounds` is how lines are looked up: it waits out the quiet period, has the
  :class:`~bulk_tasks.job.resolver.Resolver` look the lines up, sends again those that never
  landed, and looks up again, after a quiet period of their own, those whose resend got no
  answer either, for at most :data:`LOOKUP_ROUNDS` rounds.
- :class:`Recovery` holds back the lines a run leaves ``unknown`` (their journal line is
  written at once, so a kill loses nothing) and has them looked up once the run has sent
  everything; only then is each line's last word recorded.
- :func:`look_up_earlier` does the same for an earlier run's ``unknown`` lines, rebuilt from
  the results file's own cells: what ``--resume`` does before it sends anything, and what
  ``bulk-tasks resolve`` does alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..results import (
    RESULT_COLUMNS,
    Journal,
    Looked,
    Lookup,
    Outcome,
    Status,
    input_columns,
    result_headers,
)
from ..results.formats import Line as ResultsLine
from ..results.formats import read_lines
from ..rows.inputs import Row
from ..rows.rules import Line, Rules
from ..sending.lanes import LaneFactory
from ..settings import Settings
from ..vendors.base import Ask
from .resolver import Resolver, Unresolved, looked_up, never_answered, sent_again
from .summary import Progress, Resolved, Summary, counted

#: called before a line's request goes out again (the journal's "sending" marks)
BeforeSend = Callable[[Sequence[Line]], None]
#: called with a line and its last word
Settle = Callable[[Line, Outcome], None]

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

#: an earlier run whose results changed less than this long ago (seconds) counts as recent:
#: a task it created cannot have been marked done in lemlist yet (lemlist lists no done
#: task), so a task not found there never landed
RECENT = 600.0

#: what a line that cannot be rebuilt from its cells says (the request sent is not known)
NOT_REBUILT = (
    "its cells in the results file no longer give the request that was sent (another --map, "
    "--set, --timezone or --date-format?); give the run's options, or look for it in {vendor}"
)


class Recovery:
    """A run's ``unknown`` creates, held back until they are looked up."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        settle: Callable[[Line, Outcome], None],
        summary: Summary,
        progress: Progress,
        known_ids: set[str],
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._settle = settle
        self._summary = summary
        self._progress = progress
        self._known = known_ids
        self._held: dict[int, Unresolved] = {}
        self._last = 0.0  # when the last line was held (the loop's clock)
        self._on = settings.resolve and settings.action == "create"

    def hold(self, line: Line, outcome: Outcome) -> bool:
        """Hold ``line`` back when it ended unknown and will be looked up; else False."""
        if not self._on or outcome.status is not Status.UNKNOWN:
            if outcome.remote_id:
                self._known.add(outcome.remote_id)
            return False
        # on disk at once: a run killed before the lookup leaves the line unknown, as it is
        self._journal.write(line.row, line.complete(outcome), line.fingerprint)
        self._held[id(line)] = Unresolved(line, outcome)
        self._last = asyncio.get_running_loop().time()
        return True

    async def finish(
        self,
        lanes: LaneFactory,
        *,
        stop: asyncio.Event,
        abort: asyncio.Event,
        before_send: BeforeSend,
        refusal_stops_run: bool,
    ) -> None:
        """Look up the held lines, send again those that never landed, for as many rounds as
        it takes (:class:`LookupRounds`); every held line is recorded, looked up or not (a
        stop leaves the rest as they were)."""
        try:
            resolver = Resolver(
                self._settings.vendor, lanes.sender, known_ids=self._known, recent=True
            )
            rounds = LookupRounds(
                resolver,
                lanes,
                timeout=self._settings.timeout,
                summary=self._summary,
                progress=self._progress,
                stop=stop,
                abort=abort,
                before_send=before_send,
                refusal_stops_run=refusal_stops_run,
                settle=self._release,
                leave_unknown=self._release,
            )
            unknown = counted(len(self._held), f"unknown {self._summary.line_noun}")
            await rounds.run(
                list(self._held.values()),
                wait=self._last + self._settings.timeout - asyncio.get_running_loop().time(),
                looked_up=f"{unknown} at {self._settings.vendor.name}",
            )
        finally:
            for item in list(self._held.values()):
                self._release(item.line, item.outcome)

    def _release(self, line: Line, outcome: Outcome) -> None:
        if self._held.pop(id(line), None) is not None:
            if outcome.remote_id:
                self._known.add(outcome.remote_id)
            self._settle(line, outcome)


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
    """Lines with no answer looked up, round after round, until each has its last word.

    A round waits out the quiet period, looks the lines up, and sends again those that never
    landed; the lines whose resend got no answer either go to the next round, whose quiet
    period counts from the last of those, for at most :data:`LOOKUP_ROUNDS` rounds. Each
    line ends through ``settle`` (found, sent again, or, its last resend unanswered, unknown
    naming each round) or ``leave_unknown`` (a lookup left it unknown: the list could not be
    read, or held more tasks than lines asked for). A stop ends the wait; a line sent again
    ends unknown naming its rounds so far, and the others are left as they were.
    """

    def __init__(
        self,
        resolver: Resolver,
        lanes: LaneFactory,
        *,
        timeout: float,
        summary: Summary,
        progress: Progress,
        stop: asyncio.Event,
        abort: asyncio.Event,
        before_send: BeforeSend,
        refusal_stops_run: bool,
        settle: Settle,
        leave_unknown: Settle,
    ) -> None:
        self._resolver = resolver
        self._lanes = lanes
        self._timeout = timeout
        self._summary = summary
        self._progress = progress
        self._stop = stop
        self._abort = abort
        self._before_send = before_send
        self._refusal_stops_run = refusal_stops_run
        self._settle = settle
        self._leave_unknown = leave_unknown
        #: the lines still to settle, by id(line), each with its rounds so far: after a
        #: round, those whose resend got no answer, for the next
        self._waiting: dict[int, Unresolved] = {}
        self._unanswered_at = 0.0  # when a resend last got no answer (the loop's clock)
        self._sent_again = 0

    async def run(self, items: Sequence[Unresolved], *, wait: float, looked_up: str) -> None:
        """Look ``items`` up, the first quiet period ``wait`` seconds long, ``looked_up``
        saying what ("2 unknown rows at lemlist")."""
        loop = asyncio.get_running_loop()
        pending = list(items)
        self._waiting = {id(item.line): item for item in items}
        vendor = self._lanes.vendor
        try:
            for _ in range(LOOKUP_ROUNDS):
                if not pending or self._stop.is_set():
                    break
                if any(map(self._resolver.can_look_up, pending)):
                    await quiet_period(
                        looked_up, seconds=wait, progress=self._progress, stop=self._stop
                    )
                if self._stop.is_set():
                    break
                pending = await self._round(pending)
                wait = self._unanswered_at + self._timeout - loop.time()
                unknown = counted(len(pending), f"unknown {self._summary.line_noun}")
                looked_up = f"{unknown} at {vendor.name} again"
        finally:
            for item in self._waiting.values():
                if item.resent:
                    self._sent_again += 1
                    self._settle(item.line, never_answered(item, vendor))
            self._summary.resolved.update(self._resolver.tally)
            self._summary.resolved[Resolved.SENT_AGAIN] += self._sent_again

    async def _round(self, items: Sequence[Unresolved]) -> list[Unresolved]:
        """Look ``items`` up, send again those that never landed; returns those whose
        resend got no answer, for the next round (none after the last)."""
        decided, again = await self._resolver.resolve(items)
        for line, outcome in decided:
            del self._waiting[id(line)]
            if outcome.status is Status.UNKNOWN:
                self._leave_unknown(line, outcome)
            else:
                self._settle(line, outcome)
        await resend(
            [item.line for item in again],
            self._lanes,
            on_outcome=self._resent,
            stop=self._stop,
            abort=self._abort,
            before_send=self._before_send,
            refusal_stops_run=self._refusal_stops_run,
        )
        return list(self._waiting.values())

    def _resent(self, line: Line, outcome: Outcome) -> None:
        """A line sent again this round ended with ``outcome``."""
        item = self._waiting.pop(id(line))
        vendor = self._lanes.vendor
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
        self._settle(line, outcome)


async def resend(
    lines: Sequence[Line],
    lanes: LaneFactory,
    *,
    on_outcome: Settle,
    stop: asyncio.Event,
    abort: asyncio.Event,
    before_send: BeforeSend,
    refusal_stops_run: bool,
) -> None:
    """Send the lines whose create never landed, once more; ``on_outcome`` hears how each
    ended."""
    if not lines:
        return
    from ..sending.scheduler import SendingRun  # imported late, as in job.py

    sending: SendingRun[Line] = SendingRun(
        ask_of=_ask,
        open_lane=lanes.open,
        lane_of=_key_env,
        creates=True,
        on_outcome=on_outcome,
        stop=stop,
        abort=abort,
        before_send=before_send,
        workers=lanes.workers,
        refusal_stops_run=refusal_stops_run,
    )
    await sending.send_all(lines)


async def look_up_earlier(
    settings: Settings,
    rules: Rules,
    headers: Sequence[str],
    journal: Journal,
    lanes: LaneFactory,
    *,
    summary: Summary,
    progress: Progress,
    stop: asyncio.Event,
    abort: asyncio.Event,
    before_send: BeforeSend,
) -> dict[str, Outcome]:
    """The unknown creates of an earlier run of ``journal``, looked up (the quiet period
    counted from the file's last change), the missing ones sent again; returns the new
    outcome of each line found or sent again, by fingerprint (also written to the journal).
    A line that stays unknown gets its new message in the journal and in its earlier
    outcome, and is left to the run's own rules."""
    earlier = [
        (fingerprint, outcome)
        for fingerprint, outcome in journal.earlier.items()
        if outcome.status is Status.UNKNOWN
    ]
    if not earlier or settings.action != "create" or not settings.resolve:
        return {}
    settled: dict[str, Outcome] = {}
    found_ids = {outcome.remote_id for outcome in journal.earlier.values() if outcome.remote_id}
    items, lost = _rebuilt(journal.file, rules, headers, dict(earlier))
    name = settings.vendor.name

    def record(line: Line, outcome: Outcome) -> None:
        complete = line.complete(rules.worded(outcome))
        journal.write(line.row, complete, line.fingerprint)
        settled[line.fingerprint] = complete
        if complete.remote_id:  # no answer to another line's lookup in a later round
            found_ids.add(complete.remote_id)

    def still_unknown(row: Row, fingerprint: str, outcome: Outcome) -> None:
        """Said in the file, and left to the run's rules (``--retry-unknown`` sends it)."""
        journal.write(row, outcome, fingerprint)
        journal.earlier[fingerprint] = outcome

    def looked_up_unknown(line: Line, outcome: Outcome) -> None:
        still_unknown(line.row, line.fingerprint, line.complete(outcome))

    for fingerprint, (row, outcome) in lost.items():
        said = NOT_REBUILT.format(vendor=name)
        still_unknown(row, fingerprint, looked_up(outcome, Lookup(Looked.STILL_UNKNOWN, said=said)))
        summary.resolved[Resolved.STILL_UNKNOWN] += 1
    if not items:
        return settled
    changed = journal.earlier_changed
    recent = time.time() - changed < RECENT
    rounds = LookupRounds(
        Resolver(settings.vendor, lanes.sender, known_ids=found_ids, recent=recent),
        lanes,
        timeout=settings.timeout,
        summary=summary,
        progress=progress,
        stop=stop,
        abort=abort,
        before_send=before_send,
        refusal_stops_run=True,
        settle=record,
        leave_unknown=looked_up_unknown,
    )
    unknown = counted(len(items), f"unknown {summary.line_noun}")
    await rounds.run(
        items,
        wait=changed + settings.timeout - time.time(),
        looked_up=f"an earlier run's {unknown} at {name}",
    )
    return settled


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


def _row_of(cells: ResultsLine, columns: Sequence[str]) -> Row:
    return Row(int(cells.get("row") or 0), tuple(cells.get(name, "") for name in columns))


def _line_of(rules: Rules, row: Row, fingerprint: str, prospect_id: str) -> Line | None:
    base = fingerprint.split("#")[0]
    for line in rules.lines(row):
        if line.ask is not None and line.fingerprint == base and line.prospect_id == prospect_id:
            line.fingerprint = fingerprint
            return line
    return None


def _ask(line: Line) -> Ask | None:
    return line.ask


def _key_env(line: Line) -> str:
    return line.key_env


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
