"""The batch job as a library: input file -> lines -> requests -> results file.

``validate``, ``run`` and ``resolve`` are what the CLI's commands call; each is usable from
Python with a :class:`~bulk_tasks.settings.Settings`. ``run`` and ``resolve`` build one
:class:`Run`, which owns the run's state (settings, keys, journal, summary, progress, the
stop, the lanes; the journal also tells the tasks already known) and hands it to the gate,
the lookups and the sending. Data flows one way, each stage handing the next one type::

    1. before sending: an earlier run's unknown creates (--resume; all that resolve does)
       results file --EarlierLookup--> LookupPlan --LookupRounds--> found / sent again / unknown
           --> the journal, and the EarlierRun that the gate reads
    2. sending
       input file --inputs--> Row --rules--> Line --gate--> Ask --packing--> Batch
           --sender--> httpx.Response --vendor.read--> Answer --sender--> Outcome
           --Recovery--> gate.record --Recorder--> a line of the results file
    3. after sending: the creates that got no answer, which Recovery held back
       Recovery --LookupPlan--> LookupRounds --> found / sent again / unknown
           --> gate.record --Recorder--> a line of the results file

- :mod:`~bulk_tasks.rows.inputs` reads the file as a stream of :class:`~bulk_tasks.rows.inputs.Row`
  (cells as text, spreadsheet row numbers);
- :mod:`~bulk_tasks.rows.rules` makes each row one or more :class:`~bulk_tasks.rows.rules.Line` (one
  per row for lemlist and Attio, one per prospect for Saleshandy): what it asks of the
  vendor (an :class:`~bulk_tasks.vendors.base.Ask`) and its fingerprint, or its problems;
- the :class:`~bulk_tasks.job.gate.LineGate` ends the lines not to send (invalid, settled by an
  earlier run or by the lookups before sending, sent by an earlier file of an inbox, key
  missing) and lets the others through;
- :mod:`~bulk_tasks.sending.packing` gathers asks into requests, each a
  :class:`~bulk_tasks.sending.packing.Batch` of lines; :mod:`~bulk_tasks.sending.scheduler`
  hands them to the workers of their key's lane (:mod:`~bulk_tasks.sending.lanes`);
- the :class:`~bulk_tasks.sending.sender.Sender` sends a batch's request under the key's rate window
  (:mod:`~bulk_tasks.sending.transport`: httpx), the vendor reads the response as an
  :class:`~bulk_tasks.vendors.base.Answer`, and the sender makes it an
  :class:`~bulk_tasks.results.Outcome` per line;
- :class:`~bulk_tasks.job.lookups.Recovery` holds back the creates that got no answer, to be
  looked up once everything is sent, and passes every other outcome to the gate;
- the lookups (:mod:`~bulk_tasks.job.lookups`: one :class:`~bulk_tasks.job.lookups.LookupRounds`
  for all three uses, told by a :class:`~bulk_tasks.job.lookups.LookupPlan` what differs) wait out
  the quiet period, look the lines up at the vendor, and send again those that never landed;
- the :class:`~bulk_tasks.job.summary.Recorder` writes each outcome to the results file, which
  is also the run's journal (:mod:`~bulk_tasks.results`), counts it and ticks progress.

``validate`` stops at the rules: each line's outcome says whether it is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MissingKey, OptionError, OtherDestination, ResultsError
from ..keys import Keys
from ..results import (
    Journal,
    Outcome,
    SentBefore,
    Status,
    default_path,
    destination_in,
    journal_path,
    may_hold_tasks,
    sent_elsewhere,
)
from ..rows.columns import ColumnMap, map_columns
from ..rows.date_orders import read_date_orders
from ..rows.inputs import Table, is_blank, open_table
from ..rows.rules import Dedupe, Line, Rules
from ..settings import Settings
from ..vendors.base import Ask
from .gate import EarlierRun, LineGate
from .lock import Busy, LockFile
from .summary import Progress, Recorder, Resolved, Silent, Summary, counted

if TYPE_CHECKING:
    from ..sending.lanes import LaneFactory
    from ..sending.scheduler import SendingRun

__all__ = ["Progress", "Settings", "Summary", "resolve", "run", "run_async", "validate"]


class Plan:
    """An opened input with its columns matched to the action's fields.

    With ``settings.limit``, the table stops at that many non-blank rows when
    ``read_past_limit`` is False (``validate``); otherwise every row is read, and the rows
    after the limit end ``not_sent`` at the gate (``run``: its results tell every row).
    """

    def __init__(self, settings: Settings, *, read_past_limit: bool = True) -> None:
        self.settings = settings
        self.vendor = settings.vendor
        model = self.vendor.spec(settings.action)
        assert model is not None  # Settings refuses an action the vendor does not have
        table = open_table(
            settings.input,
            sheet=settings.sheet,
            encoding=settings.encoding,
            delimiter=settings.delimiter,
        )
        self.columns: ColumnMap = map_columns(
            table.headers,
            model,
            mapping=settings.mapping,
            constants=settings.constants,
        )
        # a date column's order is the whole column's, --limit or not
        reading, self.date_notes = read_date_orders(
            settings.reading, self.columns, model, table.rows
        )
        self._read_past_limit = read_past_limit
        if settings.limit is not None and not read_past_limit:
            table = table.first(settings.limit)
        self.table: Table = table
        self.rules = Rules(
            settings.target,
            settings.action,
            model,
            self.columns,
            reading,
            sandbox=settings.sandbox,
        )

    @property
    def results_delimiter(self) -> str:
        """What separates the cells of a CSV results file: a semicolon when the input's did
        (as Excel writes CSV where the decimal mark is a comma, and reads it back only so),
        else a comma."""
        return ";" if self.table.delimiter == ";" else ","

    def summary(self, results: Path) -> Summary:
        vendor, notes = self.vendor, [*self.table.notes, *self.date_notes]
        limit = self.settings.limit
        if limit is not None:
            rows = counted(limit, "rows")
            notes.append(
                f"--limit {limit}: only the first {rows} are sent; the rows after them end "
                "not_sent (beyond_limit): run again without --limit, with --resume, to send them"
                if self._read_past_limit
                else f"--limit {limit}: only the first {rows} are checked"
            )
        return Summary(
            results=results, line_noun=vendor.line_noun, vendor=vendor.title, notes=notes
        )

    def lines(self, summary: Summary, progress: Progress) -> Iterator[Line]:
        """Every line of every non-blank row; blank rows are only counted."""
        dedupe = Dedupe()
        for row in self.table.rows():
            if is_blank(row):
                summary.rows.blank += 1
                progress.advance(None)
                continue
            lines = self.rules.lines(row)
            summary.rows.expect(row.number, len(lines))
            for line in lines:
                again = dedupe(line.fingerprint)
                yield (
                    line
                    if again == line.fingerprint
                    else dataclasses.replace(line, fingerprint=again)
                )


def validate(settings: Settings, *, progress: Progress | None = None) -> Summary:
    """Every line's verdict into the results file; nothing is sent."""
    plan = Plan(settings, read_past_limit=False)
    path = settings.results or default_path(settings.input, suffix=".validation.csv")
    summary = plan.summary(path)
    watcher = progress or Silent()
    started = time.monotonic()
    _not_the_input(path, settings)
    with _locked(path):
        _keep_run_results(path)
        journal = Journal(
            path,
            plan.table.headers,
            destination=plan.rules.destination,
            delimiter=plan.results_delimiter,
            validation=True,
        )
        watcher.start(plan.table.total, summary.notes, lines=summary.line_noun)
        try:
            _record_verdicts(plan, Recorder(journal, summary, watcher), summary, watcher)
            journal.close()
        finally:
            watcher.finish()
    summary.seconds = time.monotonic() - started
    return summary


def _record_verdicts(plan: Plan, recorder: Recorder, summary: Summary, watcher: Progress) -> None:
    """Each row's lines, checked by the rules, recorded as ``validate`` reports them."""
    dedupe = Dedupe()
    for row in plan.table.rows():
        if is_blank(row):
            summary.rows.blank += 1
            watcher.advance(None)
            continue
        lines = plan.rules.verdicts(row)
        summary.rows.expect(row.number, len(lines))
        for fingerprint, outcome, reasons in lines:
            if reasons:
                summary.invalid_reasons.add(reasons, row.number)
            recorder.record(row, dedupe(fingerprint), outcome)


def _keep_run_results(path: Path) -> None:
    """Validation may replace an earlier validation, never a run's results or another file."""
    existing = [file for file in (journal_path(path), path) if file.exists()]
    if existing and may_hold_tasks(existing[0]):
        raise ResultsError(
            f"{path} holds a run's results or another file, which validate would overwrite; "
            "give validate another --results"
        )


def run(
    settings: Settings,
    *,
    key: str | Keys,
    progress: Progress | None = None,
    sent_before: Mapping[str, SentBefore] | None = None,
) -> Summary:
    """Send every valid line to the vendor; the results file says what became of each.

    ``key`` is the key of the vendor's own variable, or :class:`~bulk_tasks.keys.Keys` when
    rows may name their own (an ``apiKeyEnv`` column). ``sent_before``: lines that other
    results files sent, by fingerprint (an inbox's earlier files); such a line is not sent
    again, unless this results file's own word says to send it.
    """
    return asyncio.run(run_async(settings, key=key, progress=progress, sent_before=sent_before))


async def run_async(
    settings: Settings,
    *,
    key: str | Keys,
    progress: Progress | None = None,
    sent_before: Mapping[str, SentBefore] | None = None,
) -> Summary:
    keys = key if isinstance(key, Keys) else Keys(settings.vendor, given=key)
    plan = Plan(settings)
    if not plan.columns.names_keys and keys.key("") is None:
        raise MissingKey(f"{keys.missing('')}, or try the built-in sandbox with --sandbox")
    from ..sending.sharing import ensure_reachable  # imported late, as the sending stack is

    await ensure_reachable(settings.share)  # before any file is written
    path = settings.results or default_path(settings.input)
    _not_the_input(path, settings)
    with _locked(path):
        _keep_or_back_up(path, settings)
        journal = Journal(
            path,
            plan.table.headers,
            destination=settings.destination,
            delimiter=plan.results_delimiter,
            resume=settings.resume,
        )
        try:
            summary = await _send(
                plan, journal, keys=keys, progress=progress or Silent(), sent_before=sent_before
            )
        except BaseException:
            journal.abandon()  # every line written stays; --resume reads them
            raise
        journal.close()
    return summary


class Run:
    """One run's state, built once by ``run`` and by ``resolve`` and handed to the gate, the
    lookups and the sending: the settings and keys, the journal (the results file) with what
    an earlier run of it said and the tasks it knows (a lookup never takes one of them for
    another line's task), the summary, progress and recorder, the stop, and the lanes."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        keys: Keys,
        summary: Summary,
        progress: Progress,
        sent_before: Mapping[str, SentBefore] | None = None,
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
        """``lines`` marked in the journal as on their way: on disk when this returns."""
        self.journal.sending((line.row, line.prospect_id, line.fingerprint) for line in lines)

    @contextlib.asynccontextmanager
    async def going(self, *, key_of: Callable[[str], str | None]) -> AsyncIterator[LaneFactory]:
        """The lanes, each key's opened when its first line comes (``key_of`` gives the key a
        variable holds) and all closed at the end; meanwhile Ctrl-C and SIGTERM stop the run."""
        from ..sending.lanes import LaneFactory  # imported late, as the whole sending stack is

        with self._stopped_by_signals():
            async with LaneFactory(
                self.settings, keys=self.keys, key_of=key_of, stop=self.stop
            ) as lanes:
                yield lanes

    def sending(
        self,
        lanes: LaneFactory,
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


async def _send(
    plan: Plan,
    journal: Journal,
    *,
    keys: Keys,
    progress: Progress,
    sent_before: Mapping[str, SentBefore] | None,
) -> Summary:
    # imported late: validate, and every command but run, start a third faster without them
    from .lookups import EarlierLookup, Recovery

    summary = plan.summary(journal.path)
    run = Run(
        plan.settings,
        journal,
        keys=keys,
        summary=summary,
        progress=progress,
        sent_before=sent_before,
    )
    gate = LineGate(run, plan.rules)
    recovery = Recovery(run, record=gate.record)
    refusal_stops_run = not plan.columns.names_keys
    started = time.monotonic()
    progress.start(plan.table.total, summary.notes, lines=summary.line_noun)
    try:
        async with run.going(key_of=gate.key) as lanes:
            await EarlierLookup(run, plan.rules, plan.table.headers).look_up(lanes)
            sending = run.sending(
                lanes,
                ask_of=gate.ask,
                on_outcome=recovery.take,
                refusal_stops_run=refusal_stops_run,
            )
            ended = await sending.send_all(plan.lines(summary, progress))
            await recovery.finish(lanes, refusal_stops_run=refusal_stops_run)
    finally:
        progress.finish()
    if ended.stopped is not None:
        summary.stopped = str(ended.stopped)
    for name, refusal in ended.refused.items():
        summary.keys_unused[keys.variable(str(name))] = str(refusal)
    summary.seconds = time.monotonic() - started
    return summary


def _key_env(line: Line) -> str:
    return line.key_env


def resolve(settings: Settings, *, key: str | Keys, progress: Progress | None = None) -> Summary:
    """Look up the ``unknown`` creates of the results file ``settings.results`` at the
    vendor: found ones become created, missing ones are sent again once; the file is
    rewritten with their new lines. The summary counts the lines looked up."""
    return asyncio.run(resolve_async(settings, key=key, progress=progress))


async def resolve_async(
    settings: Settings, *, key: str | Keys, progress: Progress | None = None
) -> Summary:
    from ..rows.columns import map_columns as columns_of
    from ..sending.sharing import ensure_reachable
    from .lookups import EarlierLookup, input_headers, results_rows

    path = settings.results or settings.input
    if not (path.exists() or journal_path(path).exists()):
        raise ResultsError(f"{path} does not exist: give the results file of an earlier run")
    await ensure_reachable(settings.share)  # before the file is touched
    keys = key if isinstance(key, Keys) else Keys(settings.vendor, given=key)
    model = settings.vendor.spec(settings.action)
    assert model is not None  # Settings refuses an action the vendor does not have
    with _locked(path):
        journal = _resolving_journal(path, settings)
        try:
            headers = input_headers(journal.headers)
            columns = columns_of(
                headers, model, mapping=settings.mapping, constants=settings.constants
            )
            if not columns.names_keys and keys.key("") is None:
                raise MissingKey(keys.missing(""))
            # the dates are read as the run read them: the file holds every row it read
            reading, _ = read_date_orders(
                settings.reading,
                columns,
                model,
                functools.partial(results_rows, journal.file, headers),
            )
            rules = Rules(
                settings.target,
                settings.action,
                model,
                columns,
                reading,
                sandbox=settings.sandbox,
            )
            vendor = settings.vendor
            summary = Summary(results=path, line_noun=vendor.line_noun, vendor=vendor.title)
            run = Run(settings, journal, keys=keys, summary=summary, progress=progress or Silent())
            started = time.monotonic()
            async with run.going(key_of=keys.key) as lanes:
                await EarlierLookup(run, rules, headers).look_up(lanes)
            summary.counts.update(run.earlier.decided_statuses())
            still = summary.resolved[Resolved.STILL_UNKNOWN] + summary.resolved[Resolved.NOT_ASKED]
            if still:
                summary.counts[Status.UNKNOWN] += still
            summary.seconds = time.monotonic() - started
        except BaseException:
            journal.abandon()
            raise
        journal.close()
    return summary


def _resolving_journal(path: Path, settings: Settings) -> Journal:
    try:
        return Journal(path, (), destination=settings.destination, resume=True)
    except OtherDestination as error:
        raise OtherDestination(
            f"{path} holds lines sent to {error.found}, not to {error.wanted}: there is nothing "
            f"to look up at {error.wanted} (a --sandbox trial's tasks exist only in the sandbox)",
            path=error.path,
            found=error.found,
            wanted=error.wanted,
        ) from None


def _not_the_input(path: Path, settings: Settings) -> None:
    if path.resolve() == settings.input.resolve():
        raise OptionError(f"--results {path} is the input file itself; choose another path")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One run per results file at a time: a second one would corrupt the journal."""
    if path.is_dir():
        raise OptionError(
            f"--results {path} is a folder; name a file in it, such as {path / 'results.csv'}"
        )
    lock = LockFile(Path(f"{path}.lock"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Busy:
        raise ResultsError(
            f"another bulk-tasks run is writing {path} (it holds {path}.lock); wait for it "
            "to end, or give this run another --results"
        ) from None
    except OSError as error:
        raise ResultsError(
            f"cannot write beside {path} ({error.strerror}); choose another place with --results"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _keep_or_back_up(path: Path, settings: Settings) -> None:
    """Refuse to overwrite an earlier run's results unless told to resume or start over."""
    existing = [p for p in {path, journal_path(path)} if p.exists()]
    if not existing or settings.resume:
        return
    if not settings.force:
        found = destination_in(path)
        if found is not None and found != settings.destination:
            raise sent_elsewhere(existing[0], found=found, wanted=settings.destination)
        raise ResultsError(
            f"{existing[0]} already exists: add --resume to carry on from it (rows already "
            "done are skipped), or --force to start over (the old file is kept as a backup)"
        )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for old in existing:
        old.rename(old.with_name(f"{old.stem}.backup-{stamp}{old.suffix}"))
