"""Resolving lines left ``unknown``: asking the vendor what became of a create with no answer.

A create that got no answer (a timeout, a connection cut after the request left) may or may
not have landed. Once a quiet period has passed since it was sent (the answer timeout: a
request still on its way by then has been answered or dropped by the vendor's own servers,
which time out sooner), the vendor's task list is read for it, through the key's own rate
window (a :class:`~bulk_tasks.vendors.base.Finder` says which pages and what matches):

- found once: the line is ``created``, with the task's id and a note that it was found;
- not found: the create never landed, and it is sent again, ending like any line; when that
  send gets no answer either, the line is looked up again in a later round (see
  :mod:`bulk_tasks.job.lookups`), and each round is named in its message;
- found more often than lines asked for it, or the list could not be read: the line stays
  ``unknown``, and its message names what was found.

Identical lines (the same request, ``#2`` fingerprints) share their candidates: with two
such lines and one task found, one line is ``created`` and the other is sent again. A task
another line of the results file already holds is never a candidate.

lemlist lists only pending tasks: a task made and then marked done is invisible. Within
minutes of the run that cannot have happened yet, so a missing task is sent again; for an
older run's results the line stays ``unknown`` and says what to check. Saleshandy has no task
list: its lines stay ``unknown`` with what to check in Saleshandy.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from ..results import Looked, Lookup, Outcome, Status
from ..rows.rules import Line
from ..sending.sender import LookupFailed, Sender
from ..vendors.base import Finder, Json, Request, Vendor
from .summary import Resolved

#: an earlier run whose results changed less than this long ago (seconds) counts as recent:
#: a task it created cannot have been marked done in lemlist yet (lemlist lists no done
#: task), so a task not found there never landed
RECENT = 600.0

#: pages read at most for one lookup: a bound on the loop, far above a real list's length
MOST_PAGES = 400


@dataclass(frozen=True)
class Unresolved:
    """A line that ended ``unknown``, and that outcome; ``resent``: what each of its earlier
    lookup rounds sent again after finding no task, the answers that never came (the
    outcome of each resend, unknown), oldest first."""

    line: Line
    outcome: Outcome
    resent: tuple[Outcome, ...] = ()

    @property
    def round(self) -> int:
        """Which lookup of the line is next: 1 for its first."""
        return len(self.resent) + 1


@dataclass
class _Group:
    """Lines asking for the same task with the same key: they share their candidates."""

    key_env: str
    finder: Finder
    waiting: list[Unresolved]
    candidates: list[Json] | None = None
    trouble: str = ""


class Resolver:
    """Looks up unknown lines at the vendor; says what each became, or that it is sent again.

    ``sender_of`` gives the sender of a key variable ("": the vendor's own);
    ``known_tasks`` says which of the tasks a round found the results file already holds
    (asked once a round, as a task found or made in one round is known in the next).
    ``recent``: the lines were sent by this very run (a lemlist task cannot have been marked
    done yet).
    """

    def __init__(
        self,
        vendor: Vendor,
        sender_of: Callable[[str], Sender],
        *,
        known_tasks: Callable[[AbstractSet[str]], AbstractSet[str]],
        recent: bool,
    ) -> None:
        self._vendor = vendor
        self._sender_of = sender_of
        self._known_tasks = known_tasks
        self._recent = recent
        #: (key, page) -> tasks or why not, read once per lookup round
        self._pages: dict[tuple[str, str], list[Json] | str] = {}
        self.tally: Counter[Resolved] = Counter()

    def can_look_up(self, item: Unresolved) -> bool:
        """Whether the vendor can be asked about ``item`` (else it is decided at once)."""
        ask = item.line.ask
        return ask is not None and self._vendor.finder(ask.request) is not None

    async def resolve(
        self, lines: Sequence[Unresolved]
    ) -> tuple[list[tuple[Line, Outcome]], list[Unresolved]]:
        """The lines decided now with their outcomes, and the lines to send again."""
        self._pages.clear()  # a later round reads the list again: a resend may have landed
        decided: list[tuple[Line, Outcome]] = []
        groups: dict[tuple[str, str], _Group] = {}
        for item in lines:
            ask = item.line.ask
            finder = self._vendor.finder(ask.request) if ask is not None else None
            if finder is None:
                decided.append((item.line, self._cannot(item)))
                continue
            sent = json.dumps(finder.sent.body, sort_keys=True)
            group = groups.setdefault(
                (item.line.key_env, sent), _Group(item.line.key_env, finder, [])
            )
            group.waiting.append(item)
        for group in groups.values():
            await self._look(group)
        self._leave_out_known(groups.values())
        claimed = Counter(
            self._id(group, task) for group in groups.values() for task in group.candidates or ()
        )
        again: list[Unresolved] = []
        for group in groups.values():
            decided_now, to_send = self._decide(group, claimed)
            decided.extend(decided_now)
            again.extend(to_send)
        return decided, again

    async def _look(self, group: _Group) -> None:
        found: dict[str, Json] = {}
        for number in range(MOST_PAGES):
            tasks = await self._page(group.key_env, group.finder.page(number), group.finder)
            if isinstance(tasks, str):
                group.trouble = tasks
                return
            for task in tasks:
                task_id = group.finder.task_id(task)
                if task_id and group.finder.matches(task):
                    found.setdefault(task_id, task)
            if not group.finder.more(number, tasks):
                break
        group.candidates = list(found.values())

    def _leave_out_known(self, groups: Collection[_Group]) -> None:
        """Each group's candidates less the tasks already known: they answer other lines."""
        found = {self._id(group, task) for group in groups for task in group.candidates or ()}
        known = self._known_tasks(found)
        if not known:
            return
        for group in groups:
            if group.candidates is not None:
                group.candidates = [
                    task for task in group.candidates if self._id(group, task) not in known
                ]

    async def _page(self, key_env: str, page: Request, finder: Finder) -> list[Json] | str:
        """The tasks of one page, read once per run; or why it could not be read."""
        cached = self._pages.get((key_env, page.path))
        if cached is not None:
            return cached
        try:
            body = await self._sender_of(key_env).look(page)
            tasks: list[Json] | str = finder.tasks(body)
        except LookupFailed as error:
            tasks = str(error)
        except ValueError as error:
            tasks = f"{self._vendor.name}'s task list was not as documented ({error})"
        self._pages[(key_env, page.path)] = tasks
        return tasks

    def _decide(
        self, group: _Group, claimed: Counter[str]
    ) -> tuple[list[tuple[Line, Outcome]], list[Unresolved]]:
        name = self._vendor.name
        if group.candidates is None:
            said = f"looking it up at {name} failed: {group.trouble}"
            return [(item.line, self._still(item, said)) for item in group.waiting], []
        shared = [task for task in group.candidates if claimed[self._id(group, task)] > 1]
        if shared or len(group.candidates) > len(group.waiting):
            listed = "; ".join(group.finder.describe(task) for task in group.candidates[:5])
            said = (
                f"{len(group.candidates)} tasks at {name} match it ({listed}), more than the "
                f"{len(group.waiting)} line(s) asking for it: check them in {name} and delete "
                "any duplicate"
            )
            return [(item.line, self._still(item, said)) for item in group.waiting], []
        decided = []
        for item, task in zip(group.waiting, group.candidates, strict=False):
            task_id = self._id(group, task)
            self.tally[Resolved.FOUND] += 1
            found = Outcome(
                status=Status.CREATED,
                remote_id=task_id,
                http_status=200,
                attempts=item.outcome.attempts,
            )
            lookup = Lookup(Looked.FOUND, resends=len(item.resent), vendor=name)
            decided.append((item.line, found.with_facts(replace(found.said, lookup=lookup))))
        missing = group.waiting[len(group.candidates) :]
        if missing and not self._recent and not self._vendor.lists_done:
            said = (
                f"it is not among {name}'s pending tasks: it never landed, or it was marked "
                f"done since ({name} does not list done tasks); look for it in {name}, and if "
                "it is missing, run again with --resume --retry-unknown"
            )
            decided.extend((item.line, self._still(item, said)) for item in missing)
            return decided, []
        return decided, missing

    def _cannot(self, item: Unresolved) -> Outcome:
        if not self._vendor.no_lookup:
            self.tally[Resolved.STILL_UNKNOWN] += 1
            return item.outcome
        said = self._vendor.no_lookup.format(subject=item.line.prospect_id or "?")
        return self._still(item, said, Resolved.NOT_ASKED)

    def _still(
        self, item: Unresolved, said: str, tally: Resolved = Resolved.STILL_UNKNOWN
    ) -> Outcome:
        self.tally[tally] += 1
        lookup = Lookup(Looked.STILL_UNKNOWN, resends=len(item.resent), said=said)
        return looked_up(item.outcome, lookup)

    @staticmethod
    def _id(group: _Group, task: Json) -> str:
        return group.finder.task_id(task)


def looked_up(outcome: Outcome, lookup: Lookup) -> Outcome:
    """``outcome`` saying what ``lookup`` found, in place of what an earlier lookup said; the
    rest of its message (what was said first, its notes) as it was."""
    return outcome.with_facts(replace(outcome.said, lookup=lookup, left_alone=""))


def sent_again(item: Unresolved, outcome: Outcome, vendor: Vendor) -> Outcome:
    """The outcome of ``item`` once it was sent again and answered, saying why it was sent."""
    lookup = Lookup(Looked.SENT_AGAIN, resends=len(item.resent), vendor=vendor.name)
    return looked_up(outcome, lookup)


def never_answered(item: Unresolved, vendor: Vendor) -> Outcome:
    """The outcome of ``item``, whose last resend got no answer and which is looked up no
    more (the rounds ran out, or the run stopped): unknown, naming each round, with what
    was said when it was first sent."""
    lookup = Lookup(Looked.NEVER_ANSWERED, resends=len(item.resent), vendor=vendor.name)
    first = replace(item.resent[-1], facts=item.outcome.said)
    return looked_up(first, lookup)
