"""The batch job as a library: input file -> verdicts -> requests -> results file.

``validate`` and ``run`` are what the CLI's commands call; both are usable from Python.
Data flows one way: rows are read as a stream, each becomes an :class:`Item` (a spec and
its request, or the problems that keep it from being sent), and each item ends as one line
of the results file.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from .columns import ColumnMap, map_columns
from .errors import OptionError
from .inputs import Row, Table, is_blank, open_table
from .results import DONE, Outcome, Status, default_path, open_results
from .scheduler import Job, Rate, RetryPolicy, Sender, run_jobs
from .specs import Problem, Reading, Spec, check, spec_for
from .vendors import VENDORS, Vendor


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

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.target]


class Progress(Protocol):
    """What the job tells whoever is watching."""

    def start(self, total: int | None, notes: list[str]) -> None: ...

    def advance(self, status: Status | None) -> None:
        """One more row settled: its status, or None for a blank row."""

    def finish(self) -> None: ...


class _Silent:
    def start(self, total: int | None, notes: list[str]) -> None:
        pass

    def advance(self, status: Status | None) -> None:
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
    """One input row and what our validation made of it."""

    row: Row
    spec: Spec | None
    problems: tuple[Problem, ...] = ()


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
        """Every non-blank row, validated; blank rows are only counted."""
        for row in self.table.rows():
            if is_blank(row):
                summary.blank_rows += 1
                progress.advance(None)
                continue
            if row.extra:
                yield Item(row, None, (_extra_cells(row, len(self.table.headers)),))
                continue
            verdict = check(self.model, self.columns.values(row), reading=self.settings.reading)
            if isinstance(verdict, Spec):
                yield Item(row, verdict)
            else:
                yield Item(row, None, tuple(verdict))

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
    writer = open_results(path, plan.table.headers)
    watcher.start(plan.table.total, summary.notes)
    try:
        for item in plan.items(summary, watcher):
            outcome = valid if item.spec else plan.invalid_outcome(item)
            writer.write(item.row, outcome)
            summary.counts[outcome.status] += 1
            watcher.advance(outcome.status)
    finally:
        writer.close()
        watcher.finish()
    summary.seconds = time.monotonic() - started
    return summary


def run(settings: Settings, *, key: str, progress: Progress | None = None) -> Summary:
    """Send every valid row to the vendor; the results file says what became of each."""
    return asyncio.run(run_async(settings, key=key, progress=progress))


async def run_async(
    settings: Settings,
    *,
    key: str,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> Summary:
    vendor = settings.vendor
    base_url = check_base_url(settings.base_url or vendor.base_url)
    rate = settings.rate or Rate(vendor.limit, vendor.period)
    plan = Plan(settings)
    path = settings.results or default_path(settings.input)
    summary = Summary(results=path, notes=list(plan.table.notes))
    watcher = progress or _Silent()
    writer = open_results(path, plan.table.headers)
    creates = settings.action == "create"

    def job_of(item: Item) -> Job | None:
        if item.spec is None:
            record(item, plan.invalid_outcome(item))
            return None
        return Job(vendor.build(item.spec), creates=creates)

    def record(item: Item, outcome: Outcome) -> None:
        writer.write(item.row, outcome)
        summary.counts[outcome.status] += 1
        watcher.advance(outcome.status)

    workers = min(rate.limit, 32)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    started = time.monotonic()
    watcher.start(plan.table.total, summary.notes)
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, limits=limits) as client:
            sender = Sender(
                client=client,
                vendor=vendor,
                key=key,
                base_url=base_url,
                rate=rate,
                retry=settings.retry,
            )
            stopped = await run_jobs(
                plan.items(summary, watcher),
                job_of=job_of,
                sender=sender,
                on_outcome=record,
                stop=stop or asyncio.Event(),
                workers=workers,
            )
    finally:
        writer.close()
        watcher.finish()
    summary.stopped = str(stopped) if stopped else None
    summary.seconds = time.monotonic() - started
    return summary


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f'--base-url "{url}": give a scheme and host, e.g. http://127.0.0.1:8080')
    return url.rstrip("/")
