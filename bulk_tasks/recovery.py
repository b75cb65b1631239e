"""When lines are looked up: at the end of a run, before ``--resume`` sends, and on demand.

- :class:`Recovery` holds back the lines a run leaves ``unknown`` (their journal line is
  written at once, so a kill loses nothing), waits out the quiet period after the last one,
  has the :class:`~bulk_tasks.resolving.Resolver` look them up, sends again those that never
  landed, and only then records each line's last word.
- :func:`look_up_earlier` does the same for an earlier run's ``unknown`` lines, rebuilt from
  the results file's own cells: what ``--resume`` does before it sends anything, and what
  ``bulk-tasks resolve`` does alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .inputs import Row
from .lanes import LaneFactory
from .resolving import Resolver, Unresolved, sent_again
from .results import RESULT_COLUMNS, Journal, Outcome, Status, input_columns, result_headers
from .results.formats import Line as ResultsLine
from .results.formats import read_lines
from .rules import Line, Rules
from .settings import Settings
from .summary import Progress, Resolved, Summary, counted
from .vendors.base import Ask

#: called before a line's request goes out again (the journal's "sending" marks)
BeforeSend = Callable[[Sequence[Line]], None]

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
        """Look up the held lines, send again those that never landed; every held line is
        recorded, looked up or not (a stop leaves the rest as they were)."""
        try:
            resolver = Resolver(
                self._settings.vendor, lanes.sender, known_ids=self._known, recent=True
            )
            if any(map(resolver.can_look_up, self._held.values())) and not stop.is_set():
                await self._quiet(stop)
            if self._held and not stop.is_set():
                settled, again = await resolver.resolve(list(self._held.values()))
                for line, outcome in settled:
                    self._release(line, outcome)
                await resend(
                    again,
                    lanes,
                    settle=self._release,
                    stop=stop,
                    abort=abort,
                    before_send=before_send,
                    refusal_stops_run=refusal_stops_run,
                )
                self._summary.resolved.update(resolver.tally)
                self._summary.resolved[Resolved.SENT_AGAIN] += len(again)
        finally:
            for item in list(self._held.values()):
                self._release(item.line, item.outcome)

    async def _quiet(self, stop: asyncio.Event) -> None:
        """Wait until no request with no answer can still land: the answer timeout after
        the last one; a stop ends the wait."""
        loop = asyncio.get_running_loop()
        wait = self._last + self._settings.timeout - loop.time()
        unknown = counted(len(self._held), f"unknown {self._summary.line_noun}")
        await quiet_period(
            f"{unknown} at {self._settings.vendor.name}",
            seconds=wait,
            progress=self._progress,
            stop=stop,
        )

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


async def resend(
    items: Sequence[Unresolved],
    lanes: LaneFactory,
    *,
    settle: Callable[[Line, Outcome], None],
    stop: asyncio.Event,
    abort: asyncio.Event,
    before_send: BeforeSend,
    refusal_stops_run: bool,
) -> None:
    """Send the lines whose create never landed, once more; each ends like any line."""
    if not items:
        return
    from .scheduler import SendingRun  # imported late, as in job.py

    vendor = lanes.vendor

    def again(line: Line, outcome: Outcome) -> None:
        settle(line, sent_again(outcome, vendor))

    sending: SendingRun[Line] = SendingRun(
        ask_of=_ask,
        open_lane=lanes.open,
        lane_of=_key_env,
        creates=True,
        on_outcome=again,
        stop=stop,
        abort=abort,
        before_send=before_send,
        workers=lanes.workers,
        refusal_stops_run=refusal_stops_run,
    )
    await sending.send_all(item.line for item in items)


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
        complete = line.complete(outcome)
        journal.write(line.row, complete, line.fingerprint)
        settled[line.fingerprint] = complete

    def still_unknown(row: Row, fingerprint: str, outcome: Outcome) -> None:
        """Said in the file, and left to the run's rules (``--retry-unknown`` sends it)."""
        journal.write(row, outcome, fingerprint)
        journal.earlier[fingerprint] = outcome

    for fingerprint, (row, outcome) in lost.items():
        said = NOT_REBUILT.format(vendor=name)
        before = outcome.error_message.split(" [looked up: ")[0]
        still_unknown(
            row, fingerprint, replace(outcome, error_message=f"{before} [looked up: {said}]")
        )
        summary.resolved[Resolved.STILL_UNKNOWN] += 1
    if not items:
        return settled
    changed = os.stat(journal.file).st_mtime
    recent = time.time() - changed < RECENT
    resolver = Resolver(settings.vendor, lanes.sender, known_ids=found_ids, recent=recent)
    if any(map(resolver.can_look_up, items)):
        unknown = counted(len(items), f"unknown {summary.line_noun}")
        await quiet_period(
            f"an earlier run's {unknown} at {name}",
            seconds=changed + settings.timeout - time.time(),
            progress=progress,
            stop=stop,
        )
    if stop.is_set():
        return settled
    decided, again = await resolver.resolve(items)
    for line, outcome in decided:
        if outcome.status is Status.UNKNOWN:
            still_unknown(line.row, line.fingerprint, line.complete(outcome))
        else:
            record(line, outcome)
    await resend(
        again,
        lanes,
        settle=record,
        stop=stop,
        abort=abort,
        before_send=before_send,
        refusal_stops_run=True,
    )
    summary.resolved.update(resolver.tally)
    summary.resolved[Resolved.SENT_AGAIN] += len(again)
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
