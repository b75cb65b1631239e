"""The batch job as a library: input file -> lines -> requests -> results file.

``validate`` and ``run`` are what the CLI's commands call; both are usable from Python.
Data flows one way: rows are read as a stream, and each becomes one or more :class:`Line`
(one per row for lemlist, one per prospect for Saleshandy): what the line asks for and its
fingerprint, or the problems that keep it from being sent. Lines to send are packed into
requests (:mod:`bulk_tasks.packing`), and each line ends as a line of the results file,
which is also the run's journal (see :mod:`bulk_tasks.results`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import filelock

from .cells import Reading
from .columns import ColumnMap, map_columns
from .errors import MissingKey, OptionError, ResultsError
from .inputs import Row, Table, is_blank, open_table
from .keys import Keys
from .packing import Packer
from .results import (
    DONE,
    Journal,
    Outcome,
    Status,
    default_path,
    journal_path,
    may_hold_tasks,
)
from .rules import (
    Dedupe,
    Line,
    Rules,
    checked_rows,
    helpers_for,
    rendered_parts,
    warm_helpers,
    with_notes,
)
from .vendors import VENDORS, spec_for
from .vendors.base import Ask, Vendor
from .window import Rate, RetryPolicy


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run or a validation needs, gathered from the command line."""

    input: Path
    target: str
    action: str = "create"
    results: Path | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    reading: Reading = field(default_factory=Reading)
    base_url: str | None = None
    rate: Rate | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    resume: bool = False
    force: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    #: the most lines one request carries (default: the vendor's most, 100 for Saleshandy)
    batch_size: int | None = None
    #: pack lines of different rows into one request when they ask for the same task
    pack: bool = True
    #: mark each line "sending", fsynced, before its request goes out (off only to measure
    #: what that costs: without the marks a crash can lose track of lines on their way)
    durable: bool = True
    #: sending to the built-in sandbox: its lines never count as done for the real vendor
    sandbox: bool = False
    #: validate: helper processes checking rows (None: by the file's size and the cores)
    helpers: int | None = None

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.target]

    @property
    def grace(self) -> float:
        """After a stop, how long requests on their way may take before they are given up."""
        return self.timeout + 5.0


class Progress(Protocol):
    """What the job tells whoever is watching."""

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        """``total`` rows are coming (None: unknown); ``lines`` says what a line is."""

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        """One more line settled with ``status`` (None: a blank row); ``row_done`` when it
        was its row's last."""

    def advance_many(self, counts: Mapping[Status, int], *, rows: int) -> None:
        """Many lines settled at once, ``counts`` of each status, ending ``rows`` rows
        (blank ones included)."""

    def notice(self, message: str) -> None:
        """Something the user should know now (a stop has begun, say)."""

    def finish(self) -> None: ...


class _Silent:
    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        pass

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        pass

    def advance_many(self, counts: Mapping[Status, int], *, rows: int) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class RowTally:
    """How rows ended, as their lines settle: every line done, some, or none."""

    fully: int = 0
    partly: int = 0
    not_done: int = 0
    blank: int = 0
    #: the first few rows partly done, to point at
    partly_rows: list[int] = field(default_factory=list)
    #: rows with lines still to settle: row -> [lines left, lines done, lines in all]
    _open: dict[int, list[int]] = field(default_factory=dict, repr=False)

    @property
    def settled(self) -> int:
        return self.fully + self.partly + self.not_done

    def expect(self, row: int, lines: int) -> None:
        self._open[row] = [lines, 0, lines]

    def settle(self, row: int, *, done: bool) -> bool:
        """One of ``row``'s lines settled; True when it was the row's last."""
        entry = self._open[row]
        entry[0] -= 1
        entry[1] += done
        if entry[0]:
            return False
        _, lines_done, lines = self._open.pop(row)
        if lines_done == lines:
            self.fully += 1
        elif lines_done:
            self.partly += 1
            if len(self.partly_rows) < 10:
                self.partly_rows.append(row)
        else:
            self.not_done += 1
        return True


@dataclass
class Summary:
    """How a run ended: counts per line status, rows, where the results are, why it stopped."""

    results: Path
    #: what a line is ("rows" when each row is one line, "prospects" for Saleshandy)
    line_noun: str = "rows"
    counts: Counter[Status] = field(default_factory=Counter)
    rows: RowTally = field(default_factory=RowTally)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    #: a key variable that was not set, or whose key the vendor refused -> what happened
    keys_unused: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """0: every line done; 1: finished, some lines not done; 2: stopped."""
        if self.stopped:
            return 2
        return 0 if all(status in DONE for status in self.counts) else 1


class Plan:
    """An opened input with its columns matched to the action's fields."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.vendor = settings.vendor
        model = spec_for(settings.target, settings.action)
        if model is None:
            raise OptionError(
                f"--action {settings.action}: {settings.target} can only "
                + " or ".join(self.vendor.actions)
            )
        self.table: Table = open_table(
            settings.input,
            sheet=settings.sheet,
            encoding=settings.encoding,
            delimiter=settings.delimiter,
        )
        self.columns: ColumnMap = map_columns(
            self.table.headers,
            model,
            mapping=settings.mapping,
            constants=settings.constants,
        )
        self.rules = Rules(
            settings.target,
            settings.action,
            model,
            self.columns,
            settings.reading,
            sandbox=settings.sandbox,
        )

    def summary(self, results: Path) -> Summary:
        notes = list(self.table.notes)
        return Summary(results=results, line_noun=self.vendor.line_noun, notes=notes)

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

    def invalid_outcome(self, line: Line) -> Outcome:
        return self.rules.invalid_outcome(line)


def validate(settings: Settings, *, progress: Progress | None = None) -> Summary:
    """Every line's verdict into the results file; nothing is sent.

    Rows are checked in helper processes when the file is large and the machine has cores
    to spare (``settings.helpers``); the results keep the input's order either way.
    """
    if settings.helpers is None:
        warm_helpers(settings.input)
    plan = Plan(settings)
    path = settings.results or default_path(settings.input, suffix=".validation.csv")
    summary = plan.summary(path)
    watcher = progress or _Silent()
    helpers = helpers_for(plan.table.total) if settings.helpers is None else settings.helpers
    started = time.monotonic()
    with _locked(path, settings):
        _keep_run_results(path)
        journal = Journal(path, plan.table.headers, durable=False, flush_each=False)
        note = _noter(journal, summary, watcher)
        dedupe = Dedupe()
        render = journal.renders_csv and helpers > 0  # helpers render, this process writes
        watcher.start(plan.table.total, summary.notes, lines=summary.line_noun)
        try:
            if render:
                for part in rendered_parts(plan.rules, plan.table, helpers=helpers):
                    journal.write_lines(dedupe.text(part))
                    # validation does no task: each row ends "not done"
                    summary.rows.blank += part.blank
                    summary.rows.not_done += part.rows - part.blank
                    summary.counts.update(part.counts)
                    watcher.advance_many(part.counts, rows=part.rows)
            else:
                for row, lines in checked_rows(plan.rules, plan.table, helpers=helpers):
                    if lines is None:
                        summary.rows.blank += 1
                        watcher.advance(None)
                        continue
                    summary.rows.expect(row.number, len(lines))
                    for prospect_id, fingerprint, outcome, message in lines:
                        note(row, prospect_id, dedupe(fingerprint), outcome, message)
            journal.close()
        finally:
            watcher.finish()
    summary.seconds = time.monotonic() - started
    return summary


Note = Callable[[Row, str, str, Outcome, str], None]


def _noter(journal: Journal, summary: Summary, progress: Progress) -> Note:
    """How a line ends: its entry in the results file, its counts, its tick of progress."""
    counts, settle, advance = summary.counts, summary.rows.settle, progress.advance

    def note(row: Row, prospect_id: str, fingerprint: str, outcome: Outcome, message: str) -> None:
        journal.write(row, outcome, fingerprint, prospect_id=prospect_id, message=message)
        counts[outcome.status] += 1
        advance(outcome.status, row_done=settle(row.number, done=outcome.status in DONE))

    return note


def _recorder(
    journal: Journal, summary: Summary, progress: Progress
) -> Callable[[Line, Outcome], None]:
    """:func:`_noter` for a line and its outcome, with the line's notes said."""
    note = _noter(journal, summary, progress)

    def record(line: Line, outcome: Outcome) -> None:
        notes = line.notes
        message = with_notes(outcome.error_message, notes) if notes else outcome.error_message
        note(line.row, line.prospect_id, line.fingerprint, outcome, message)

    return record


def _keep_run_results(path: Path) -> None:
    """Validation may replace an earlier validation, never a run's results or another file."""
    existing = [file for file in (journal_path(path), path) if file.exists()]
    if existing and may_hold_tasks(existing[0]):
        raise ResultsError(
            f"{path} holds a run's results or another file, which validate would overwrite; "
            "give validate another --results"
        )


def run(settings: Settings, *, key: str | Keys, progress: Progress | None = None) -> Summary:
    """Send every valid line to the vendor; the results file says what became of each.

    ``key`` is the key of the vendor's own variable, or :class:`~bulk_tasks.keys.Keys` when
    rows may name their own (an ``apiKeyEnv`` column).
    """
    return asyncio.run(run_async(settings, key=key, progress=progress))


async def run_async(
    settings: Settings, *, key: str | Keys, progress: Progress | None = None
) -> Summary:
    keys = key if isinstance(key, Keys) else Keys(settings.vendor, given=key)
    base_url = check_base_url(settings.base_url or settings.vendor.base_url)
    plan = Plan(settings)
    if not plan.columns.names_keys and keys.key("") is None:
        raise MissingKey(f"{keys.missing('')}, or try the built-in sandbox with --sandbox")
    path = settings.results or default_path(settings.input)
    with _locked(path, settings):
        _make_way(path, settings)
        journal = Journal(
            path, plan.table.headers, resume=settings.resume, durable=settings.durable
        )
        try:
            summary = await _send(
                plan,
                journal,
                settings,
                keys=keys,
                base_url=base_url,
                progress=progress or _Silent(),
            )
        except BaseException:
            journal.abandon()  # every line written stays; --resume reads them
            raise
        journal.close()
    return summary


async def _send(
    plan: Plan,
    journal: Journal,
    settings: Settings,
    *,
    keys: Keys,
    base_url: str,
    progress: Progress,
) -> Summary:
    # imported late: validate, and every command but run, start a third faster without them
    from .scheduler import Sender, run_jobs
    from .transport import AiohttpTransport

    summary = plan.summary(journal.path)
    vendor = settings.vendor
    rate = settings.rate or Rate(vendor.limit, vendor.period)
    stop, abort = asyncio.Event(), asyncio.Event()
    record = _recorder(journal, summary, progress)
    found: dict[str, str | None] = {}  # variable named by rows -> its key (None: not set)

    def key_of(line: Line) -> str | None:
        if line.key_env not in found:
            found[line.key_env] = keys.key(line.key_env)
            if found[line.key_env] is None:
                trouble = f"{keys.missing(line.key_env)}; its {summary.line_noun} were not sent"
                summary.keys_unused[keys.variable(line.key_env)] = trouble
                progress.notice(trouble)
        return found[line.key_env]

    def ask_of(line: Line) -> Ask | None:
        if line.ask is None:
            record(line, plan.invalid_outcome(line))
            return None
        earlier = journal.earlier.get(line.fingerprint)
        decided = resumed(earlier, settings) if earlier else None
        if decided is not None:
            record(line, decided)
            return None
        if key_of(line) is None:
            record(line, _key_missing(keys, line.key_env))
            return None
        return line.ask

    def settle(line: Line, outcome: Outcome) -> None:
        refused = outcome.error_code == "key_rejected"
        if refused and (variable := keys.variable(line.key_env)) not in summary.keys_unused:
            summary.keys_unused[variable] = outcome.error_message
            progress.notice(outcome.error_message)
        record(line, outcome)

    async def before_send(lines: Sequence[Line]) -> None:
        await journal.sending((line.row, line.prospect_id, line.fingerprint) for line in lines)

    workers = min(rate.limit, WORKERS_PER_KEY)
    clients = contextlib.AsyncExitStack()

    def open_lane(key_env: str) -> tuple[Sender, Packer[Line]]:
        # a client (a pool of connections) per key, each request on its way on one of them
        transport = AiohttpTransport(connections=workers)
        clients.push_async_callback(transport.aclose)
        sender = Sender(
            transport=transport,
            timeout=settings.timeout,
            vendor=vendor,
            key=found[key_env] or "",
            key_env=keys.variable(key_env),
            base_url=base_url,
            rate=rate,
            retry=settings.retry,
            stop=stop,
        )
        packer: Packer[Line] = Packer(
            vendor,
            row_of=lambda line: line.row.number,
            size=settings.batch_size or vendor.most_per_request,
            per_row=not settings.pack,
        )
        return sender, packer

    started = time.monotonic()
    progress.start(plan.table.total, summary.notes, lines=summary.line_noun)
    try:
        with _signals(summary, progress, stop, abort, grace=settings.grace):
            async with clients:
                ended = await run_jobs(
                    plan.lines(summary, progress),
                    ask_of=ask_of,
                    open_lane=lambda name: open_lane(str(name)),
                    lane_of=lambda line: line.key_env,
                    creates=settings.action == "create",
                    on_outcome=settle,
                    stop=stop,
                    abort=abort,
                    before_send=before_send,
                    workers=workers,
                    refusal_stops_run=not plan.columns.names_keys,
                )
    finally:
        progress.finish()
    if ended.stopped is not None:
        summary.stopped = str(ended.stopped)
    for name, refusal in ended.refused.items():
        summary.keys_unused[keys.variable(str(name))] = str(refusal)
    summary.seconds = time.monotonic() - started
    return summary


#: requests on their way at once per key, at most. Enough for a vendor's rate at the
#: latencies seen (lemlist's 10/s with answers taking up to 0.8 s); more only costs.
WORKERS_PER_KEY = 8


def _key_missing(keys: Keys, key_env: str) -> Outcome:
    return Outcome(
        status=Status.NOT_SENT,
        error_code="key_missing",
        error_message=f"{keys.missing(key_env)}; nothing was sent: set it, then run again "
        "with --resume",
    )


def resumed(earlier: Outcome, settings: Settings) -> Outcome | None:
    """What an earlier run's last word on a line means now: an outcome, or None to send it."""
    if earlier.status in DONE:
        return Outcome(
            status=Status.SKIPPED,
            remote_id=earlier.remote_id,
            http_status=earlier.http_status,
            error_message=f"done by an earlier run ({earlier.status.value})"
            if earlier.status is not Status.SKIPPED
            else earlier.error_message,
        )
    if earlier.status is Status.UNKNOWN and not settings.retry_unknown:
        return _left_alone(earlier, "--retry-unknown, which may create it twice")
    retryable = earlier.error_code == "retries_exhausted"
    if earlier.status is Status.FAILED and not (retryable or settings.retry_failed):
        return _left_alone(earlier, "--retry-failed")
    return None  # not_sent, retries exhausted, or asked for: send it


def _left_alone(earlier: Outcome, option: str) -> Outcome:
    reason = earlier.error_message.split(" [left alone by --resume")[0]
    return Outcome(
        status=earlier.status,
        remote_id=earlier.remote_id,
        http_status=earlier.http_status,
        error_code=earlier.error_code,
        error_message=f"{reason} [left alone by --resume; to send it again add {option}]",
        attempts=earlier.attempts,
    )


@contextlib.contextmanager
def _locked(path: Path, settings: Settings) -> Iterator[None]:
    """One run per results file at a time: a second one would corrupt the journal."""
    if path.resolve() == settings.input.resolve():
        raise OptionError(f"--results {path} is the input file itself; choose another path")
    lock = filelock.FileLock(f"{path}.lock", timeout=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
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


def _make_way(path: Path, settings: Settings) -> None:
    """Refuse to overwrite an earlier run's results unless told to resume or start over."""
    existing = [p for p in {path, journal_path(path)} if p.exists()]
    if not existing or settings.resume:
        return
    if not settings.force:
        raise ResultsError(
            f"{existing[0]} already exists: add --resume to carry on from it (rows already "
            "done are skipped), or --force to start over (the old file is kept as a backup)"
        )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for old in existing:
        old.rename(old.with_name(f"{old.stem}.backup-{stamp}{old.suffix}"))


@contextlib.contextmanager
def _signals(
    summary: Summary,
    progress: Progress,
    stop: asyncio.Event,
    abort: asyncio.Event,
    *,
    grace: float,
) -> Iterator[None]:
    """Ctrl-C or SIGTERM: stop sending, let requests on their way finish; twice: at once."""
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        if stop.is_set() and summary.stopped:
            abort.set()
            progress.notice("Stopping at once: rows on their way are marked unknown.")
            return
        stop.set()
        summary.stopped = f"stopped by {name}"
        loop.call_later(grace, abort.set)
        progress.notice(
            f"Stopping: no new rows are sent; waiting up to {grace:.0f} s for the ones on "
            "their way (press Ctrl-C again to stop at once)."
        )

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, on_signal, sig.name)
            handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f'--base-url "{url}": give a scheme and host, e.g. http://127.0.0.1:8080')
    return url.rstrip("/")
