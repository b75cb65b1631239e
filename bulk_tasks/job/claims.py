"""The task ledger's part in a run: what it says of each create before it is sent, and what
it is told of each task made.

Before a create goes, the line is *claimed* in the ledger (:mod:`bulk_tasks.job.ledger`) under
its identity: its fingerprint, or with ``--row-key`` the row's own key (and its prospect,
for Saleshandy), for the run's vendor, destination and key. The claim is what keeps two runs
(two machines on one PostgreSQL) from creating one task twice: only one of them gets it.

- claimed now: the create is sent; once created, the line's task is recorded (durably,
  before its results line says so); refused or never sent, the claim is let go; with no
  answer, it stays, and a later run looks the task up;
- an earlier run created the task: the line ends ``skipped``, saying when, from which file
  and row, and with which task; with ``--row-key``, a row edited since updates its task
  where the vendor can (``updated``), and says what it cannot update where it cannot;
- another run holds the claim: while it is alive the line waits for it, until it says how
  the create ended (created: skipped; let go: sent); a claim whose run ended or went without
  saying (killed, its machine lost) is taken over: a create it never sent (the claim is
  marked as each request goes) is sent now; one it sent got no answer, and is looked up at
  the vendor like this run's own.

``--create-again`` sends every line and records its new task in place of the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..results import DONE, Facts, NamedCells, Outcome, Status
from ..results.messages import counted
from ..rows.rules import Line
from ..settings import Settings
from ..vendors.base import Ask
from .ledger import Claim, Entry, Ledger, RunState, Scope, key_hash
from .resolver import RECENT
from .summary import Ledgered

if TYPE_CHECKING:
    from ..sending.lanes import Lanes
    from .state import Run

#: how long a run waits at most for another run to say how the creates it claimed ended
MOST_WAIT = 600.0
#: how often the ledger is read again meanwhile (seconds)
POLL = 0.5

#: called with a line and an outcome
OnOutcome = Callable[[Line, Outcome], None]


class Held(enum.Enum):
    """A line given to the run's lookups, as a create with no answer."""

    HELD = "held"


HELD = Held.HELD


@dataclass(frozen=True)
class Edit:
    """A line sent as an update of the task an earlier run created for its row."""

    entry: Entry
    claim: Claim
    changed: tuple[str, ...]


class Claims:
    """The ledger's word on a run's creates (see the module's docstring)."""

    def __init__(self, run: Run, ledger: Ledger) -> None:
        self._run = run
        self._ledger = ledger
        self._vendor = run.settings.vendor
        self._by_key = run.settings.row_key is not None
        self._create_again = run.settings.create_again
        self._results = str(run.journal.path.absolute())  # as `ledger list --results` matches it
        self._scopes: dict[str, Scope] = {}  # key variable -> its scope
        #: lines this run claimed (or, with --create-again, will record), by id(line)
        self._claimed: dict[int, Claim] = {}
        #: lines sent as updates, by id(line)
        self._edits: dict[int, Edit] = {}
        #: lines another run claimed and is creating, by id(line): they wait for it
        self._waiting: dict[int, Line] = {}
        run.on_sending(self.sending)

    def is_edit(self, line: Line) -> bool:
        """Whether ``line`` is being sent as an update of its task (no create to look up)."""
        return id(line) in self._edits

    def ask(self, line: Line, *, hold: OnOutcome) -> Ask | Outcome | None:
        """What ``line`` (a valid create, its key set) asks now: its own ask, claimed; an
        update of its task; or the outcome it ends with unsent. None: another run holds its
        claim (the line waits for it: :meth:`wait_for_others`), or one that went without
        saying did, and ``hold`` was given the line as a create with no answer, to look up."""
        assert line.ask is not None
        scope, claim = self._scope(line), self._claim(line)
        if self._create_again:
            self._claimed[id(line)] = claim
            return line.ask
        entry = self._ledger.claim(scope, claim, run_id=self._run.run_id)
        if entry is None:
            self._claimed[id(line)] = claim
            return line.ask
        if entry.created:
            return self._known(line, entry, claim)
        taken = self._take_over(line, entry, claim, hold=hold)
        if taken is None:
            self._waiting[id(line)] = line
        return taken if taken is not HELD else None

    def ended(self, line: Line, outcome: Outcome) -> Outcome:
        """``line`` ended with ``outcome``: its task recorded in the ledger, durably, before
        the line is (created; a task an earlier run made, found anew); its claim let go
        when no task was made (refused, not sent); an update said so. Returns the outcome
        as the line says it."""
        claim = self._claimed.pop(id(line), None)
        edit = self._edits.pop(id(line), None)
        if edit is not None:
            return self._edited(line, edit, outcome)
        if line.ask is None or outcome.status is Status.INVALID:
            return outcome
        scope = self._scope(line)
        if outcome.status in DONE and outcome.remote_id:
            if claim is None:  # not claimed by this run: found by a lookup, or an older file's
                claim = self._claim(line)
                known = outcome.status is not Status.CREATED
                if known and self._ledger.get(scope, claim.identity) is not None:
                    return outcome
            self._record(scope, claim, outcome.remote_id)
        elif claim is not None and outcome.status in (Status.FAILED, Status.NOT_SENT):
            self._ledger.release(scope, claim.identity, run_id=self._run.run_id)
        return outcome

    async def wait_for_others(
        self, lanes: Lanes, *, on_outcome: OnOutcome, record: OnOutcome, hold: OnOutcome
    ) -> None:
        """The lines whose claim another run held, waited for until that run says how each
        ended (at most :data:`MOST_WAIT` seconds; a stop ends the wait): created, the line
        ends as the ledger says (``record``); let go, the line is claimed and sent now
        (``on_outcome`` hears how it ends); its run gone without saying, the line is taken
        over and given to ``hold`` to look up. A line still waiting ends ``unknown``."""
        if not self._waiting:
            return
        run = self._run
        noun = run.summary.line_noun
        run.progress.notice(
            f"Waiting for {counted(len(self._waiting), noun)} that another run is creating "
            f"(the ledger {self._ledger.where} holds their claims)"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MOST_WAIT
        while self._waiting and not run.stop.is_set() and loop.time() < deadline:
            asks = self._waited(record=record, hold=hold)
            if asks:
                await self._send(lanes, asks, on_outcome=on_outcome)
            if self._waiting:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.stop.wait(), POLL)
        for line in list(self._waiting.values()):
            del self._waiting[id(line)]
            record(line, self._still_claimed(line))

    def _waited(self, *, record: OnOutcome, hold: OnOutcome) -> dict[int, tuple[Line, Ask]]:
        """One look at the waiting lines' claims: the lines to send now, with their asks."""
        asks: dict[int, tuple[Line, Ask]] = {}
        for key, line in list(self._waiting.items()):
            scope, claim = self._scope(line), self._claim(line)
            entry = self._ledger.get(scope, claim.identity)
            if entry is None:  # let go: this run's, if it claims it first
                entry = self._ledger.claim(scope, claim, run_id=self._run.run_id)
                if entry is None:
                    del self._waiting[key]
                    self._claimed[key] = claim
                    assert line.ask is not None
                    asks[key] = (line, line.ask)
                    continue
            if entry.created:
                del self._waiting[key]
                decided = self._known(line, entry, claim, elsewhere=True)
                if isinstance(decided, Ask):
                    asks[key] = (line, decided)
                else:
                    record(line, decided)
            else:
                taken = self._take_over(line, entry, claim, hold=hold)
                if taken is not None:
                    del self._waiting[key]
                if isinstance(taken, Ask):
                    asks[key] = (line, taken)
                elif isinstance(taken, Outcome):
                    record(line, taken)
        return asks

    async def _send(
        self, lanes: Lanes, asks: dict[int, tuple[Line, Ask]], *, on_outcome: OnOutcome
    ) -> None:
        def ask_of(line: Line) -> Ask | None:
            return asks[id(line)][1]

        sending = self._run.sending(
            lanes, ask_of=ask_of, on_outcome=on_outcome, refusal_stops_run=True
        )
        await sending.send_all([line for line, _ in asks.values()])

    def _take_over(
        self, line: Line, entry: Entry, claim: Claim, *, hold: OnOutcome
    ) -> Ask | Outcome | Held | None:
        """A claim whose run ended, or went without saying how its create ended, taken over.
        Its create never sent: the line's ask, to send now. Sent: :data:`HELD`, the line
        given to ``hold`` as a create with no answer, to be looked up; or, sent too long ago
        for a vendor whose list hides tasks done, the outcome it ends with, unknown. None:
        its run is still at it, or another run took it over first."""
        if self._ledger.run_state(entry.run_id) is RunState.ALIVE:
            return None
        if not self._ledger.take_over(entry, run_id=self._run.run_id):
            return None
        self._claimed[id(line)] = claim
        if entry.sent_at is None or self._run.settings.retry_unknown:  # never sent, or asked
            return line.ask
        if not self._vendor.lists_done and time.time() - entry.sent_at >= RECENT:
            return _unanswered(entry, too_old=self._vendor.title)
        hold(line, _unanswered(entry))
        return HELD

    def sending(self, lines: Sequence[Line]) -> None:
        """The creates of ``lines`` are about to go: their claims say so. A claim that never
        went is sent by the run that takes it over; one that went is looked up first."""
        identities: dict[Scope, list[str]] = {}
        for line in lines:
            claim = self._claimed.get(id(line))
            if claim is not None:
                identities.setdefault(self._scope(line), []).append(claim.identity)
        for scope, claimed in identities.items():
            self._ledger.sending(scope, claimed, run_id=self._run.run_id)

    def _known(
        self, line: Line, entry: Entry, claim: Claim, *, elsewhere: bool = False
    ) -> Ask | Outcome:
        """A line whose task an earlier run created: skipped as it is, or, with --row-key
        and its row edited since, its task's update (or why it cannot be updated)."""
        changed = _changed(entry, claim) if self._by_key else ()  # a fingerprint is its fields
        summary = self._run.summary
        if not changed:
            how = Ledgered.CREATED_ELSEWHERE if elsewhere else Ledgered.CREATED_BEFORE
            if self._by_key and not elsewhere:
                how = Ledgered.UNCHANGED
            summary.by_ledger[how] += 1
            return _skipped(entry, how)
        if not set(changed) <= self._vendor.updatable:
            summary.by_ledger[Ledgered.NOT_UPDATABLE] += 1
            return self._not_updatable(entry, changed)
        assert line.ask is not None
        self._edits[id(line)] = Edit(entry, claim, changed)
        request = self._vendor.edit(entry.task_id, line.ask.request, changed)
        return Ask(request, subject=line.ask.subject, notes=line.ask.notes)

    def _edited(self, line: Line, edit: Edit, outcome: Outcome) -> Outcome:
        """An update's outcome: the ledger told the row's new fields when it was done."""
        if outcome.status not in DONE:
            return outcome
        self._ledger.updated(self._scope(line), edit.claim.identity, fields=edit.claim.fields)
        self._run.summary.by_ledger[Ledgered.UPDATED] += 1
        entry = edit.entry
        said = f"updated task {entry.task_id}: "
        cells = NamedCells(edit.changed, f" changed since it was {_created(entry)}")
        return Outcome(
            status=Status.UPDATED,
            remote_id=entry.task_id,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
        ).with_facts(Facts(said=said, cells=cells))

    def _not_updatable(self, entry: Entry, changed: Sequence[str]) -> Outcome:
        vendor = self._vendor
        cannot = [name for name in changed if name not in vendor.updatable]
        said = f"edited since its task {entry.task_id} was made ({_created(entry)}): "
        where = f" {vendor.edit_elsewhere}" if vendor.edit_elsewhere else f" in {vendor.title}"
        then = (
            f" changed, which {vendor.title} cannot update through its API; nothing was "
            f"sent: edit the task{where}, or create a new one with --create-again (the old "
            "one stays)"
        )
        return Outcome(
            status=Status.FAILED,
            remote_id=entry.task_id,
            error_code="not_updatable",
        ).with_facts(Facts(said=said, cells=NamedCells(tuple(cannot), then)))

    def _still_claimed(self, line: Line) -> Outcome:
        entry = self._ledger.get(self._scope(line), self._claim(line).identity)
        where = f"{entry.results} row {entry.row}" if entry is not None else "another run"
        return Outcome(
            status=Status.UNKNOWN,
            error_code="claimed_elsewhere",
            error_message=f"another run ({where}) claimed it and had not said how its create "
            "ended when this run stopped waiting for it: it may exist; once that run is over, "
            "run this one again with --resume --retry-unknown (the ledger skips it if it was "
            "created)",
        )

    def _record(self, scope: Scope, claim: Claim, task_id: str) -> None:
        self._ledger.created(scope, claim, task_id=task_id, run_id=self._run.run_id)

    def _scope(self, line: Line) -> Scope:
        scope = self._scopes.get(line.key_env)
        if scope is None:
            key = self._run.keys.key(line.key_env) or ""
            settings = self._run.settings
            scope = Scope(settings.target, ledger_destination(settings), key_hash(key))
            self._scopes[line.key_env] = scope
        return scope

    def _claim(self, line: Line) -> Claim:
        assert line.ask is not None
        return Claim(
            identity=_identity(line),
            fields=field_hashes(self._vendor.sent_fields(line.ask.request)),
            results=self._results,
            row=line.row.number,
        )


def _changed(entry: Entry, claim: Claim) -> tuple[str, ...]:
    """The fields whose values differ between what created the task and the line now."""
    names = {*entry.fields, *claim.fields}
    return tuple(sorted(name for name in names if entry.fields.get(name) != claim.fields.get(name)))


def ledger_destination(settings: Settings) -> str:
    """Where the tasks go, as the ledger tells it: the vendor (or its built-in sandbox), and
    the address requests go to when ``--base-url`` gives another (a sandbox that lasts, a
    proxy): tasks made there are not the vendor's own, as for the rate window."""
    if settings.base_url is None:
        return settings.destination
    return f"{settings.destination} at {settings.url}"


def _identity(line: Line) -> str:
    """The line's identity in the ledger: its row's key (and prospect), else its fingerprint."""
    if not line.row_key:
        return line.fingerprint
    return f"{line.row_key}/{line.prospect_id}" if line.prospect_id else line.row_key


def field_hashes(fields: Mapping[str, object]) -> dict[str, str]:
    """A short hash of each field's value: what tells an edited row, holding no cell."""
    return {
        name: hashlib.sha256(
            json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()[:16]
        for name, value in fields.items()
    }


def _created(entry: Entry) -> str:
    """When and where an entry's task was made, as a message says it."""
    when = datetime.fromtimestamp(entry.created_at or entry.claimed_at, UTC)
    return f"created {when:%Y-%m-%d %H:%M} UTC by {entry.results} row {entry.row}"


def _skipped(entry: Entry, how: Ledgered) -> Outcome:
    why = {
        Ledgered.CREATED_BEFORE: "not sent again (--create-again creates it again)",
        Ledgered.UNCHANGED: "its row is unchanged since, so nothing was sent",
        Ledgered.CREATED_ELSEWHERE: "another run created it while this one ran; not sent again",
    }[how]
    return Outcome(
        status=Status.SKIPPED,
        remote_id=entry.task_id,
        error_message=f"task {entry.task_id} {_created(entry)}, as the task ledger says: {why}",
    )


def _unanswered(entry: Entry, *, too_old: str = "") -> Outcome:
    """A claim whose run went without saying: a create with no answer, as far as is known.
    ``too_old``: the vendor whose list hides tasks done, when it was sent too long ago to
    look it up."""
    when = datetime.fromtimestamp(entry.sent_at or entry.claimed_at, UTC)
    said = (
        f"another run ({entry.results} row {entry.row}) sent its create at "
        f"{when:%Y-%m-%d %H:%M:%S} UTC and ended without saying how that went"
    )
    if too_old:
        said += (
            f": it may exist, and {too_old} lists no task already done, so it was not looked "
            f"up; check in {too_old}, and if it is missing, forget it (`bulk-tasks ledger "
            f"forget --identity {entry.identity}`) and run again with --resume --retry-unknown"
        )
    return Outcome(status=Status.UNKNOWN, error_code="no_answer", error_message=said)
