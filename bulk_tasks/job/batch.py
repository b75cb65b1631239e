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
           --scheduler--> Delivery --sender--> httpx.Response --vendor.read--> Answer
           --sender--> Outcome
           --Recovery--> gate.record --Recorder--> a line of the results file
    3. after sending: the creates that got no answer, which Recovery held back
       Recovery --LookupPlan--> LookupRounds --> found / sent again / unknown
           --> gate.record --Recorder--> a line of the results file

- :mod:`~bulk_tasks.rows.inputs` reads the file as a stream of :class:`~bulk_tasks.rows.inputs.Row`
  (cells as text, spreadsheet row numbers);
- :mod:`~bulk_tasks.rows.rules` makes each row one or more :class:`~bulk_tasks.rows.rules.Line` (one
  per row for lemlist and Attio, one per prospect for Saleshandy): what it asks of the
  vendor (an :class:`~bulk_tasks.vendors.base.Ask`) and its fingerprint, or its problems;
- the :class:`~bulk_tasks.job.gate.LineGate` ends the lines not to send (invalid, ended by an
  earlier run or by the lookups before sending, sent by an earlier file of an inbox, key
  missing) and lets the others through;
- :mod:`~bulk_tasks.sending.packing` gathers asks into requests, each a
  :class:`~bulk_tasks.sending.packing.Batch` of lines; :mod:`~bulk_tasks.sending.scheduler`
  hands each to a worker of its key's :class:`~bulk_tasks.sending.scheduler.Lane`
  (:mod:`~bulk_tasks.sending.lanes`) as a :class:`~bulk_tasks.sending.sender.Delivery`;
- the :class:`~bulk_tasks.sending.sender.Sender` sends it under the key's rate window
  (:mod:`~bulk_tasks.sending.transport`: httpx), the vendor reads the response as an
  :class:`~bulk_tasks.vendors.base.Answer`, and the sender makes it an
  :class:`~bulk_tasks.results.Outcome` per line;
- :class:`~bulk_tasks.job.lookups.Recovery` holds back the creates that got no answer, to be
  looked up once everything is sent, and passes every other outcome to the gate;
- the lookups (:mod:`~bulk_tasks.job.lookups`: one :class:`~bulk_tasks.job.lookups.LookupRounds`
  for all three uses, told by a :class:`~bulk_tasks.job.lookups.LookupPlan` what differs) wait out
  the quiet period, look the lines up at the vendor, and send again those that never landed;
- the :class:`~bulk_tasks.job.summary.Recorder` writes each outcome (its message worded from
  its facts: :mod:`~bulk_tasks.results.messages`) to the results file, which
  is also the run's journal (:mod:`~bulk_tasks.results`), counts it and ticks progress.

``validate`` stops at the rules: each line's outcome says whether it is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

from ..errors import MissingKey, OptionError, OtherDestination, ResultsError
from ..keys import SANDBOX_KEY, Keys
from ..results import (
    Journal,
    SentBefore,
    Status,
    default_path,
    destination_in,
    journal_path,
    may_hold_tasks,
    sent_elsewhere,
)
from ..rows.date_orders import read_date_orders
from ..rows.rules import VALID, Rules
from ..settings import Settings
from .gate import LineGate
from .ledger import Ledger, open_ledger
from .lock import Busy, LockFile
from .plan import Plan
from .progress import Progress, Silent
from .state import Run
from .summary import Recorder, Resolved, Summary

__all__ = ["resolve", "resolve_async", "run", "run_async", "validate"]


def validate(settings: Settings, *, progress: Progress | None = None) -> Summary:
    """Check every line of ``settings.input``, and write each one's verdict; send nothing.

    The validation file (``settings.results``, else ``NAME.validation.csv`` beside the
    input) has the input's columns, then ``status``: ``not_sent`` for a valid line (its
    ``error_code`` is ``valid``), ``invalid`` for one that is not, with an ``error_code``
    and an ``error_message`` that names the column, the value and the fix.

    Args:
        settings: what to read and how (``action``, ``mapping``, ``reading``, ``limit``...).
        progress: told of each line as it is checked
            ([`LogProgress`][bulk_tasks.LogProgress] logs it).

    Returns:
        The lines by status; its ``exit_code`` is 0 when every line is valid, 1 when some
            are not.

    Raises:
        InputError: the input file is missing, unreadable or not a table.
        ColumnError: a field the action needs has no column.
        ResultsError: the validation file would overwrite a run's results, or cannot be
            written.
    """
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
            _record_checked(plan, Recorder(journal, summary, watcher), summary, watcher)
            journal.close()
        finally:
            watcher.finish()
    summary.seconds = time.monotonic() - started
    return summary


def _record_checked(plan: Plan, recorder: Recorder, summary: Summary, watcher: Progress) -> None:
    """Each line, checked by the rules, recorded as ``validate`` reports it: valid, or why not."""
    for line in plan.lines(summary, watcher):
        if line.ask is None:
            recorder.record_invalid(line, plan.rules)
        else:
            recorder.record_line(line, VALID)


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
    key: str | Keys | None = None,
    progress: Progress | None = None,
    sent_before: Mapping[str, SentBefore] | None = None,
) -> Summary:
    """Send every valid line of ``settings.input`` to the vendor, under its rate limit, and
    write what became of each line to the results file.

    The results file (``settings.results``, else ``NAME.results.csv`` beside the input) has
    the input's columns, then ``status``, the task's id, ``error_code`` and
    ``error_message``; it is written line by line, so a run that is stopped or killed
    carries on with ``resume=True``. A line whose outcome is not ``created``, ``updated``
    or ``skipped`` is not done: its message says why and what to do.

    With ``settings.sandbox`` and no ``settings.base_url``, the built-in sandbox is started
    for this call and every line goes there: nothing reaches the vendor, and no key is
    needed.

    Args:
        settings: what to send and how.
        key: the API key (else the vendor's variable, ``LEMLIST_API_KEY``..., is read, and
            the variables an ``apiKeyEnv`` column names), or [`Keys`][bulk_tasks.Keys] for
            keys kept elsewhere than in the environment.
        progress: told of each line as it ends ([`LogProgress`][bulk_tasks.LogProgress] logs it).
        sent_before: lines that other results files sent, by fingerprint (an inbox's
            earlier files); such a line is not sent again.

    Returns:
        The lines by status, and why the run stopped if it did; its ``exit_code`` is 0
            when every line is done, 1 when some are not, 2 when the run stopped (the key
            was refused, the vendor could not be reached).

    Raises:
        InputError: the input file is missing, unreadable or not a table.
        ColumnError: a field the action needs has no column.
        MissingKey: no key was given and the vendor's variable is not set.
        ResultsError: the results file cannot be written, is another run's (give
            ``resume=True`` or ``force=True``), or is in use by another run.
        ShareUnavailable: the Redis that ``settings.share`` names cannot be reached.
        LedgerUnavailable: the task ledger cannot be opened, reached or written.
    """
    return asyncio.run(run_async(settings, key=key, progress=progress, sent_before=sent_before))


async def run_async(
    settings: Settings,
    *,
    key: str | Keys | None = None,
    progress: Progress | None = None,
    sent_before: Mapping[str, SentBefore] | None = None,
) -> Summary:
    """``run``, for a caller that already runs an event loop."""
    with _destination(settings, key) as (settings, keys):
        return await _run(settings, keys, progress=progress, sent_before=sent_before)


async def _run(
    settings: Settings,
    keys: Keys,
    *,
    progress: Progress | None,
    sent_before: Mapping[str, SentBefore] | None,
) -> Summary:
    plan = Plan(settings)
    if not plan.columns.names_keys and keys.key("") is None:
        raise MissingKey(f"{keys.missing('')}, or try the built-in sandbox with --sandbox")
    from ..sending.sharing import ensure_reachable  # imported late, as the sending stack is

    await ensure_reachable(settings.share)  # before any file is written
    path = settings.results or default_path(settings.input)
    _not_the_input(path, settings)
    with _locked(path), _ledger_of(settings) as ledger:
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
                plan,
                journal,
                keys=keys,
                progress=progress or Silent(),
                sent_before=sent_before,
                ledger=ledger,
            )
        except BaseException:
            journal.abandon()  # every line written stays; --resume reads them
            raise
        journal.close()
    return summary


async def _send(
    plan: Plan,
    journal: Journal,
    *,
    keys: Keys,
    progress: Progress,
    sent_before: Mapping[str, SentBefore] | None,
    ledger: Ledger | None,
) -> Summary:
    # imported late: validate, and every command but run, start a third faster without them
    from .lookups import EarlierLookup

    summary = plan.summary(journal.path)
    run = Run(
        plan.settings,
        journal,
        keys=keys,
        summary=summary,
        progress=progress,
        sent_before=sent_before,
        ledger=ledger,
    )
    gate = LineGate(run, plan.rules)
    recovery = gate.recovery
    refusal_stops_run = not plan.columns.names_keys
    started = time.monotonic()
    progress.start(plan.table.total, summary.notes, lines=summary.line_noun)
    try:
        async with run.going(key_of=gate.key) as lanes:
            earlier = EarlierLookup(run, plan.rules, plan.table.headers, claims=gate.claims)
            await earlier.look_up(lanes)
            sending = run.sending(
                lanes,
                ask_of=gate.ask,
                on_outcome=recovery.take,
                refusal_stops_run=refusal_stops_run,
            )
            ended = await sending.send_all(plan.lines(summary, progress))
            if gate.claims is not None:
                await gate.claims.wait_for_others(
                    lanes, on_outcome=recovery.take, record=gate.record, hold=recovery.take
                )
            await recovery.finish(lanes, refusal_stops_run=refusal_stops_run)
    finally:
        progress.finish()
    if ended.stopped is not None:
        summary.stopped = str(ended.stopped)
    for name, refusal in ended.refused.items():
        summary.keys_unused[keys.variable(str(name))] = str(refusal)
    summary.seconds = time.monotonic() - started
    return summary


def resolve(
    settings: Settings, *, key: str | Keys | None = None, progress: Progress | None = None
) -> Summary:
    """Look up the ``unknown`` creates of an earlier run's results file at the vendor.

    A create left ``unknown`` (its request left, no answer came back) is looked up in the
    vendor's task list: one found ends ``created`` with its task's id, one missing is sent
    again once. The results file gets the new lines; nothing else is sent.

    Args:
        settings: the run's settings: its results file (``results``, else the one
            [`run`][bulk_tasks.run] writes beside ``input``) is the one resolved.
        key: as [`run`][bulk_tasks.run] takes it.
        progress: told of each line as it is looked up.

    Returns:
        The lines looked up, by what became of them (``resolved``: found, sent again,
            still unknown) and by status.

    Raises:
        ResultsError: the results file does not exist, cannot be read, or is in use.
        MissingKey: no key was given and the vendor's variable is not set.
        ShareUnavailable: the Redis that ``settings.share`` names cannot be reached.
        LedgerUnavailable: the task ledger cannot be opened, reached or written.
    """
    return asyncio.run(resolve_async(settings, key=key, progress=progress))


async def resolve_async(
    settings: Settings, *, key: str | Keys | None = None, progress: Progress | None = None
) -> Summary:
    """``resolve``, for a caller that already runs an event loop."""
    with _destination(settings, key) as (settings, keys):
        return await _resolve(settings, keys, progress=progress)


async def _resolve(settings: Settings, keys: Keys, *, progress: Progress | None) -> Summary:
    from ..rows.columns import map_columns as columns_of
    from ..sending.sharing import ensure_reachable
    from .claims import Claims
    from .lookups import EarlierLookup, input_headers, results_rows

    path = settings.results or default_path(settings.input)
    if not (path.exists() or journal_path(path).exists()):
        raise ResultsError(f"{path} does not exist: give the results file of an earlier run")
    await ensure_reachable(settings.share)  # before the file is touched
    model = settings.vendor.spec(settings.action)
    assert model is not None  # Settings refuses an action the vendor does not have
    with _locked(path), _ledger_of(settings) as ledger:
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
            run = Run(
                settings,
                journal,
                keys=keys,
                summary=summary,
                progress=progress or Silent(),
                ledger=ledger,
            )
            started = time.monotonic()
            claims = Claims(run, run.ledger) if run.ledger is not None else None
            async with run.going(key_of=keys.key) as lanes:
                await EarlierLookup(run, rules, headers, claims=claims).look_up(lanes)
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


@contextlib.contextmanager
def _destination(settings: Settings, key: str | Keys | None) -> Iterator[tuple[Settings, Keys]]:
    """Where to send and with which keys: the built-in sandbox, started for this call
    (``sandbox`` without a ``base_url``), or the vendor (or ``base_url``) with ``key``, else
    the key in the vendor's variable."""
    if not (settings.sandbox and settings.base_url is None):
        yield settings, key if isinstance(key, Keys) else Keys(settings.vendor, given=key)
        return
    with on_built_in_sandbox(settings) as sent_there:
        yield sent_there


@contextlib.contextmanager
def on_built_in_sandbox(settings: Settings) -> Iterator[tuple[Settings, Keys]]:
    """``settings`` sending to the built-in sandbox, which serves until the block ends, and
    the keys it takes (any will do: each variable reads as a made-up key)."""
    from ..sandbox import Sandbox, SandboxServer  # imported late: only a trial needs it

    with SandboxServer(Sandbox()) as server:
        keys = Keys(settings.vendor, given=SANDBOX_KEY, sandbox=True)
        yield dataclasses.replace(settings, base_url=server.url, sandbox=True), keys


@contextlib.contextmanager
def _ledger_of(settings: Settings) -> Iterator[Ledger | None]:
    """The task ledger of a create run, open meanwhile (None: off, or not a create)."""
    if settings.action != "create":
        yield None
        return
    ledger = open_ledger(settings.ledger_where)
    try:
        yield ledger
    finally:
        if ledger is not None:
            ledger.close()


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
