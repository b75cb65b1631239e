"""A run's state and its one owner: the :class:`Run` that ``run`` and ``resolve`` build once
and hand to the gate, the lookups and the sending, and the :class:`EarlierRun`, what an
earlier run of the results file said of each line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from ..keys import Keys
from ..results import Journal, Outcome, SentBefore, Status
from ..rows.rules import Line
from ..settings import Settings
from ..vendors.base import Ask
from .progress import Progress
from .summary import Recorder, Summary

if TYPE_CHECKING:
    from ..sending.lanes import Lanes
    from ..sending.scheduler import SendingRun
    from .ledger import Ledger


class EarlierRun:
    """What an earlier run of the results file said of each line, by fingerprint (nothing
    unless resuming), and what the lookups before sending made of its unknown lines: what
    ``--resume`` carries on from, and what ``resolve`` looks up."""

    def __init__(self, words: Mapping[str, Outcome], *, changed: float) -> None:
        self._words = words
        #: when the earlier run last wrote the file (seconds since the epoch): its requests
        #: with no answer are that old at least
        self.changed = changed
        #: lines a lookup left unknown: their new word, saying what the lookup found
        self._looked_up: dict[str, Outcome] = {}
        #: lines a lookup decided (found, or sent again): how they end in this run
        self._decided: dict[str, Outcome] = {}

    def __bool__(self) -> bool:
        return bool(self._words)

    def word(self, fingerprint: str) -> Outcome | None:
        """The earlier run's last word on a line, as the lookups left it; None: none."""
        looked_up = self._looked_up.get(fingerprint) if self._looked_up else None
        return looked_up if looked_up is not None else self._words.get(fingerprint)

    def decided(self, fingerprint: str) -> Outcome | None:
        """How the lookups before sending ended a line; None: they did not."""
        return self._decided.get(fingerprint) if self._decided else None

    def unknown(self) -> dict[str, Outcome]:
        """The lines the earlier run left unknown, with its word on each."""
        return {
            fingerprint: outcome
            for fingerprint, outcome in self._words.items()
            if outcome.status is Status.UNKNOWN
        }

    def decide(self, fingerprint: str, outcome: Outcome) -> None:
        """A lookup ended the line ``fingerprint`` with ``outcome`` (found, sent again, or
        unknown naming each round): the gate records it so, and sends nothing."""
        self._decided[fingerprint] = outcome

    def leave_unknown(self, fingerprint: str, outcome: Outcome) -> None:
        """A lookup left the line unknown: ``outcome`` is the earlier run's word on it now,
        which the run's own rules follow (``--retry-unknown`` sends it)."""
        self._looked_up[fingerprint] = outcome

    def decided_statuses(self) -> Counter[Status]:
        """How many lines the lookups ended with each status."""
        return Counter(outcome.status for outcome in self._decided.values())


class Run:
    """One run's state, built once by ``run`` and by ``resolve`` and handed to the gate, the
    lookups and the sending: the settings and keys, the journal (the results file) with what
    an earlier run of it said and the tasks it knows (a lookup never takes one of them for
    another line's task), the task ledger, the summary, progress and recorder, the stop, and
    the lanes."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        keys: Keys,
        summary: Summary,
        progress: Progress,
        sent_before: Mapping[str, SentBefore] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.journal = journal
        self.summary = summary
        self.progress = progress
        self.recorder = Recorder(journal, summary, progress)
        self.earlier = EarlierRun(journal.earlier, changed=journal.earlier_changed)
        #: lines that other results files sent, by fingerprint (an inbox's earlier files)
        self.sent_before: Mapping[str, SentBefore] = sent_before or {}
        #: set by the first Ctrl-C or SIGTERM: no new request goes out
        self.stop = asyncio.Event()
        #: set by a second one, or when the grace is over: requests on their way are given up
        self.abort = asyncio.Event()
        #: this run, as the task ledger knows it: who claimed a line
        self.run_id = uuid.uuid4().hex
        #: the task ledger, which a create run consults before each create (None: none)
        self.ledger = ledger if settings.action == "create" else None
        #: who hears of each request's lines as they are marked on their way
        self._on_sending: list[Callable[[Sequence[Line]], None]] = []

    def known_tasks(self, task_ids: AbstractSet[str]) -> set[str]:
        """The ones of ``task_ids`` that this results file names (an earlier run's lines, and
        every line this run has written: read from the disk now, so that the tasks a run
        knows take no memory) or that an inbox's earlier files name. A task already known is
        no answer to a line a lookup looks for."""
        before = {line.remote_id for line in self.sent_before.values()} & task_ids
        return self.journal.tasks_among(task_ids) | before

    @property
    def looks_up(self) -> bool:
        """Whether lines left unknown are looked up at the vendor: creates, unless
        ``--no-resolve``."""
        return self.settings.resolve and self.settings.action == "create"

    def mark_sending(self, lines: Sequence[Line]) -> None:
        """``lines`` marked in the journal as on their way: on disk when this returns (and
        what heard of it too: the task ledger's claims)."""
        self.journal.sending((line.row, line.prospect_id, line.fingerprint) for line in lines)
        for listener in self._on_sending:
            listener(lines)

    def on_sending(self, listener: Callable[[Sequence[Line]], None]) -> None:
        """``listener`` hears of the lines of each request as they are marked on their way,
        before the request goes."""
        self._on_sending.append(listener)

    @contextlib.asynccontextmanager
    async def going(self, *, key_of: Callable[[str], str | None]) -> AsyncIterator[Lanes]:
        """The lanes, each key's opened when its first line comes (``key_of`` gives the key a
        variable holds) and all closed at the end, their requests counted in the summary's
        traffic; meanwhile Ctrl-C and SIGTERM stop the run."""
        from ..sending.lanes import Lanes  # imported late, as the whole sending stack is

        with self._stopped_by_signals(), self._alive():
            async with Lanes(
                self.settings,
                keys=self.keys,
                key_of=key_of,
                stop=self.stop,
                traffic=self.summary.traffic,
            ) as lanes:
                yield lanes

    @contextlib.contextmanager
    def _alive(self) -> Iterator[None]:
        """Meanwhile the run tells the ledger, every few seconds, that it is alive (so that
        other runs wait for the lines it claimed), and at the end that it has ended."""
        ledger = self.ledger
        if ledger is None:
            yield
            return
        from .ledger import BEAT

        ledger.beat(self.run_id)
        beating = asyncio.get_running_loop().create_task(self._beat(ledger, BEAT))
        try:
            yield
        finally:
            beating.cancel()
            ledger.beat(self.run_id, ended=True)

    async def _beat(self, ledger: Ledger, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            ledger.beat(self.run_id)

    def sending(
        self,
        lanes: Lanes,
        *,
        ask_of: Callable[[Line], Ask | None],
        on_outcome: Callable[[Line, Outcome], None],
        refusal_stops_run: bool,
    ) -> SendingRun[Line]:
        """A sending of lines through ``lanes``, each marked in the journal before it goes:
        ``ask_of`` says what a line asks (None: not sent), ``on_outcome`` hears how each ended."""
        from ..sending.scheduler import SendingRun

        return SendingRun(
            ask_of=ask_of,
            open_lane=lanes.open,
            lane_of=_key_env,
            creates=self.settings.action == "create",
            on_outcome=on_outcome,
            stop=self.stop,
            abort=self.abort,
            before_send=self.mark_sending,
            workers=lanes.workers,
            refusal_stops_run=refusal_stops_run,
        )

    @contextlib.contextmanager
    def _stopped_by_signals(self) -> Iterator[None]:
        """Ctrl-C or SIGTERM: stop sending, let requests on their way finish; twice: at once."""
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
                loop.add_signal_handler(sig, self._on_signal, sig.name)
                handled.append(sig)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _on_signal(self, name: str) -> None:
        if self.stop.is_set() and self.summary.stopped:
            self.abort.set()
            self.progress.notice("Stopping at once: rows on their way are marked unknown.")
            return
        grace = self.settings.grace
        self.stop.set()
        self.summary.stopped = f"stopped by {name}"
        asyncio.get_running_loop().call_later(grace, self.abort.set)
        self.progress.notice(
            f"Stopping: no new rows are sent; waiting up to {grace:.0f} s for the ones on "
            "their way (press Ctrl-C again to stop at once)."
        )


def _key_env(line: Line) -> str:
    return line.key_env
