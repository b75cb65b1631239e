"""The batch job as a library: input file -> verdicts -> requests -> results file.

``validate`` and ``run`` are what the CLI's commands call; both are usable from Python.
Data flows one way: rows are read as a stream, each becomes an :class:`Item` (its request
and fingerprint, or the problems that keep it from being sent), and each item ends as a
line of the results file, which is also the run's journal (see :mod:`bulk_tasks.results`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import filelock
import httpx

from .columns import ColumnMap, map_columns
from .errors import OptionError, ResultsError
from .inputs import Row, Table, is_blank, open_table
from .results import (
    DONE,
    EXISTS_OR_MAY,
    Journal,
    Outcome,
    Status,
    default_path,
    journal_path,
    read_journal,
)
from .scheduler import Job, Rate, RetryPolicy, Sender, run_jobs
from .specs import Problem, Reading, Spec, check, spec_for
from .vendors import VENDORS, Request, Vendor


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
    #: mark each row "sending", fsynced, before its request goes out (off only to measure
    #: what that costs: without the marks a crash can lose track of rows on their way)
    durable: bool = True
    #: sending to the built-in sandbox: its rows never count as done for the real vendor
    sandbox: bool = False

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.target]

    @property
    def grace(self) -> float:
        """After a stop, how long requests on their way may take before they are given up."""
        return self.timeout + 5.0


class Progress(Protocol):
    """What the job tells whoever is watching."""

    def start(self, total: int | None, notes: list[str]) -> None: ...

    def advance(self, status: Status | None) -> None:
        """One more row settled: its status, or None for a blank row."""

    def notice(self, message: str) -> None:
        """Something the user should know now (a stop has begun, say)."""

    def finish(self) -> None: ...


class _Silent:
    def start(self, total: int | None, notes: list[str]) -> None:
        pass

    def advance(self, status: Status | None) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class Summary:
    """How a run ended: counts per status, where the results are, and why it stopped."""

    results: Path
    counts: Counter[Status] = field(default_factory=Counter)
    blank_rows: int = 0
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """0: every row done; 1: finished, some rows not done; 2: stopped."""
        if self.stopped:
            return 2
        return 0 if all(status in DONE for status in self.counts) else 1


@dataclass(frozen=True)
class Item:
    """One input row, what our validation made of it, and its identity across runs."""

    row: Row
    fingerprint: str
    request: Request | None  # None: the row is invalid
    problems: tuple[Problem, ...] = ()


def fingerprint(target: str, action: str, content: object) -> str:
    """A short hash of what a row asks for: equal for equal rows, wherever they stand."""
    text = json.dumps([target, action, content], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Plan:
    """An opened input with its columns matched to the action's fields."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = spec_for(settings.target, settings.action)
        self.table: Table = open_table(
            settings.input,
            sheet=settings.sheet,
            encoding=settings.encoding,
            delimiter=settings.delimiter,
        )
        self.columns: ColumnMap = map_columns(
            self.table.headers,
            self.model,
            mapping=settings.mapping,
            constants=settings.constants,
        )

    def items(self, summary: Summary, progress: Progress) -> Iterator[Item]:
        """Every non-blank row, validated and fingerprinted; blank rows are only counted."""
        seen: Counter[str] = Counter()
        for row in self.table.rows():
            if is_blank(row):
                summary.blank_rows += 1
                progress.advance(None)
                continue
            item = self._item(row)
            seen[item.fingerprint] += 1
            if seen[item.fingerprint] > 1:  # an identical row again: the 2nd, 3rd... of them
                item = Item(
                    item.row,
                    f"{item.fingerprint}#{seen[item.fingerprint]}",
                    item.request,
                    item.problems,
                )
            yield item

    def _item(self, row: Row) -> Item:
        values = self.columns.values(row)
        target, action = self.settings.target, self.settings.action
        if self.settings.sandbox:  # a task made in the sandbox does not exist in the vendor
            target += " sandbox"
        if row.extra:
            cells = {"values": values, "extra": row.extra}
            problem = _extra_cells(row, len(self.table.headers))
            return Item(row, fingerprint(target, action, cells), None, (problem,))
        verdict = check(self.model, values, reading=self.settings.reading)
        if isinstance(verdict, Spec):
            request = self.settings.vendor.build(verdict)
            sent = [request.method, request.path, request.body]
            return Item(row, fingerprint(target, action, sent), request)
        return Item(row, fingerprint(target, action, values), None, tuple(verdict))

    def invalid_outcome(self, item: Item) -> Outcome:
        return Outcome(
            status=Status.INVALID,
            error_code=";".join(dict.fromkeys(problem.field for problem in item.problems)),
            error_message="; ".join(self._sentence(problem) for problem in item.problems),
        )

    def _sentence(self, problem: Problem) -> str:
        if problem.field not in self.model.model_fields:
            return problem.message
        where = self.columns.source(problem.field)
        if problem.value is None:
            return f"{where} {problem.message}"
        return f'{where} = "{problem.value}" {problem.message}'


def _extra_cells(row: Row, width: int) -> Problem:
    surplus = ", ".join(f'"{cell}"' for cell in row.extra)
    return Problem(
        "extra_cells",
        f"this row has {width + len(row.extra)} cells but the header has {width} columns "
        f"(the surplus: {surplus}): a value probably contains the delimiter without quotes; "
        "quote it or fix the row",
    )


def validate(settings: Settings, *, progress: Progress | None = None) -> Summary:
    """Every row's verdict into the results file; nothing is sent."""
    plan = Plan(settings)
    path = settings.results or default_path(settings.input, suffix=".validation.csv")
    summary = Summary(results=path, notes=list(plan.table.notes))
    watcher = progress or _Silent()
    valid = Outcome(
        status=Status.NOT_SENT,
        error_code="valid",
        error_message="valid: `bulk-tasks run` would send it",
    )
    started = time.monotonic()
    with _locked(path, settings):
        _keep_run_results(path)
        journal = Journal(path, plan.table.headers, durable=False)
        record = _recorder(journal, summary, watcher)
        watcher.start(plan.table.total, summary.notes)
        try:
            for item in plan.items(summary, watcher):
                record(item, valid if item.request else plan.invalid_outcome(item))
            journal.close()
        finally:
            watcher.finish()
    summary.seconds = time.monotonic() - started
    return summary


def _recorder(
    journal: Journal, summary: Summary, progress: Progress
) -> Callable[[Item, Outcome], None]:
    """How a row ends: its line in the results file, its count, its tick of progress."""

    def record(item: Item, outcome: Outcome) -> None:
        journal.write(item.row, outcome, item.fingerprint)
        summary.counts[outcome.status] += 1
        progress.advance(outcome.status)

    return record


def _keep_run_results(path: Path) -> None:
    """Validation may replace an earlier validation, never a run's results or another file."""
    if not journal_path(path).exists() and not path.exists():
        return
    try:
        earlier = read_journal(journal_path(path) if journal_path(path).exists() else path)
    except ResultsError:
        earlier = {"": Outcome(status=Status.UNKNOWN)}  # not ours: not ours to overwrite
    if any(outcome.status in EXISTS_OR_MAY for outcome in earlier.values()):
        raise ResultsError(
            f"{path} holds a run's results or another file, which validate would overwrite; "
            "give validate another --results"
        )


def run(settings: Settings, *, key: str, progress: Progress | None = None) -> Summary:
    """Send every valid row to the vendor; the results file says what became of each."""
    return asyncio.run(run_async(settings, key=key, progress=progress))


async def run_async(settings: Settings, *, key: str, progress: Progress | None = None) -> Summary:
    base_url = check_base_url(settings.base_url or settings.vendor.base_url)
    plan = Plan(settings)
    path = settings.results or default_path(settings.input)
    with _locked(path, settings):
        _make_way(path, settings)
        journal = Journal(
            path, plan.table.headers, resume=settings.resume, durable=settings.durable
        )
        try:
            summary = await _send(
                plan, journal, settings, key=key, base_url=base_url, progress=progress or _Silent()
            )
        except BaseException:
            journal.abandon()  # every line written stays; --resume reads them
            raise
        await journal.finish()
    return summary


async def _send(
    plan: Plan,
    journal: Journal,
    settings: Settings,
    *,
    key: str,
    base_url: str,
    progress: Progress,
) -> Summary:
    summary = Summary(results=journal.path, notes=list(plan.table.notes))
    rate = settings.rate or Rate(settings.vendor.limit, settings.vendor.period)
    creates = settings.action == "create"
    stop, abort = asyncio.Event(), asyncio.Event()

    def job_of(item: Item) -> Job | None:
        if item.request is None:
            record(item, plan.invalid_outcome(item))
            return None
        earlier = journal.earlier.get(item.fingerprint)
        decided = resumed(earlier, settings) if earlier else None
        if decided is not None:
            record(item, decided)
            return None
        return Job(item.request, creates=creates)

    record = _recorder(journal, summary, progress)

    async def before_send(item: Item) -> None:
        await journal.sending(item.row, item.fingerprint)

    workers = min(rate.limit, 32)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    started = time.monotonic()
    progress.start(plan.table.total, summary.notes)
    try:
        with _signals(summary, progress, stop, abort, grace=settings.grace):
            async with httpx.AsyncClient(timeout=settings.timeout, limits=limits) as client:
                sender = Sender(
                    client=client,
                    vendor=settings.vendor,
                    key=key,
                    base_url=base_url,
                    rate=rate,
                    retry=settings.retry,
                    stop=stop,
                )
                stopped = await run_jobs(
                    plan.items(summary, progress),
                    job_of=job_of,
                    sender=sender,
                    on_outcome=record,
                    stop=stop,
                    abort=abort,
                    before_send=before_send,
                    workers=workers,
                )
    finally:
        progress.finish()
    if stopped is not None:
        summary.stopped = str(stopped)
    summary.seconds = time.monotonic() - started
    return summary


def resumed(earlier: Outcome, settings: Settings) -> Outcome | None:
    """What an earlier run's last word on a row means now: a line to write, or None to send."""
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
