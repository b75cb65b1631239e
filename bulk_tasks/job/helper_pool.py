"""``validate``'s helper processes: rows checked in parallel, handed back in input order.

Checking rows is most of what ``validate`` costs, and rows do not depend on each other, so
a :class:`HelperPool` can spread them over helper processes, in chunks, and still hand them
back in input order (:meth:`HelperPool.checked_rows`), or have the helpers read the table's
parts themselves and render the results lines too, so that this process only writes
(:meth:`HelperPool.rendered_parts`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ..results import CsvLines, Outcome, Status
from ..rows.inputs import Cell, Row, Table, is_blank
from ..rows.rules import Rules
from .summary import InvalidReasons

T = TypeVar("T")
R = TypeVar("R")

#: fewer rows than this are checked in this process: a helper's start-up would cost more
PARALLEL_FROM = 20_000
CHUNK = 2_000


#: a file this large probably has PARALLEL_FROM rows: its helpers' fork server starts early
WARM_FROM = 1 << 20


def warm_helpers(path: Path) -> None:
    """For a file large enough to want helpers, start the fork server they come from now:
    its imports (a few tenths of a second) then overlap this process's reading the file."""
    try:
        large = path.stat().st_size >= WARM_FROM
    except OSError:
        return  # opening the file will say what is wrong with it
    if large and helpers_for(None) and _helpers_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver  # where there is one (not on Windows)

        forkserver.ensure_running()


def helpers_for(total: int | None) -> int:
    """How many helper processes to check ``total`` rows with (0: none, check here).

    One per core, up to four: this process, which reads and writes, needs a share of a core
    only. A single helper (one core) would be slower than checking here.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (total is not None and total < PARALLEL_FROM) or (cores or 1) < 2:
        return 0
    return min(cores or 1, 4)


class RenderedPart(NamedTuple):
    """A part of the table as ``validate``'s results lines, rendered by a helper."""

    helper: int  # the process id of the helper that rendered it
    rows: int  # blank ones included
    blank: int
    counts: dict[Status, int]  # the lines' statuses
    invalid_reasons: InvalidReasons
    #: each line's fingerprint as this part alone sees it, and where it starts in ``text``
    fingerprints: list[str]
    offsets: list[int]
    text: str


#: a row's lines as ``validate`` reports them (None: blank), each its fingerprint, outcome
#: and reasons (:meth:`~bulk_tasks.rows.rules.Rules.verdicts`)
Verdicts = list[tuple[str, Outcome, tuple[str, ...]]] | None


class HelperPool:
    """``helpers`` processes checking rows with ``rules``; :attr:`used` says which did work.

    Jobs are handed out a chunk or a part at a time, with a few on their way at once, and
    their results taken back in the order they were handed out: memory stays flat and the
    input's order is kept.
    """

    def __init__(self, rules: Rules, helpers: int, *, delimiter: str = ",") -> None:
        self._helpers = helpers
        self._executor = ProcessPoolExecutor(
            helpers,
            mp_context=_helpers_context(),
            initializer=_start_helper,
            initargs=(rules, delimiter),
        )
        #: the process ids of the helpers that checked rows
        self.used: set[int] = set()

    def __enter__(self) -> HelperPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.shutdown(cancel_futures=True)

    def checked_rows(self, table: Table) -> Iterator[tuple[Row, Verdicts]]:
        """Each row with its lines' verdicts, in order."""
        source = iter(table.rows())
        chunks = iter(lambda: list(islice(source, CHUNK)), [])
        submitted = (
            # plain tuples: quicker to pickle than rows
            (
                chunk,
                self._executor.submit(_check_chunk, [(r.number, r.cells, r.extra) for r in chunk]),
            )
            for chunk in chunks
        )
        for chunk, (helper, verdicts) in self._in_order(submitted):
            self.used.add(helper)
            yield from zip(chunk, verdicts, strict=True)

    def rendered_parts(self, table: Table) -> Iterator[RenderedPart]:
        """``validate``'s CSV results lines, a part of the table at a time, in order: the
        helpers read the table's parts themselves (a CSV file's spans, a sheet's raw
        values), check and render them; this process only writes."""
        if table.parts is None:
            raise ValueError("rendering needs a table read in parts")
        submitted = ((None, self._executor.submit(_render_part, *part)) for part in table.parts())
        for _, rendered in self._in_order(submitted):
            self.used.add(rendered.helper)
            yield rendered

    def _in_order(self, submitted: Iterable[tuple[T, Future[R]]]) -> Iterator[tuple[T, R]]:
        """The results of jobs as they were submitted, with a few on their way at once: the
        jobs are submitted only as their results are taken."""
        pending: deque[tuple[T, Future[R]]] = deque()
        for job in submitted:
            pending.append(job)
            if len(pending) > 2 * self._helpers + 1:
                what, future = pending.popleft()
                yield what, future.result()
        while pending:
            what, future = pending.popleft()
            yield what, future.result()


def checked_here(rules: Rules, table: Table) -> Iterator[tuple[Row, Verdicts]]:
    """Each row with its lines' verdicts, checked in this process."""
    for row in table.rows():
        yield row, None if is_blank(row) else rules.verdicts(row)


def _helpers_context() -> multiprocessing.context.BaseContext:
    """How helpers start: never a fork of this process, which may have threads (the
    progress bar's); a fork server that imported this module once, where there is one."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


_RULES: Rules | None = None  # a helper process's rules, set once when it starts
_RENDER: CsvLines | None = None


def _start_helper(rules: Rules, delimiter: str) -> None:
    global _RULES, _RENDER
    _RULES = rules
    _RENDER = CsvLines(len(rules.columns.headers), rules.destination, delimiter=delimiter)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def _render_part(read: Callable[..., list[Row]], arguments: tuple[Any, ...]) -> RenderedPart:
    assert _RULES is not None
    assert _RENDER is not None
    rows = read(*arguments)
    blank = 0
    counts: dict[Status, int] = {}
    reasons = InvalidReasons()
    fingerprints: list[str] = []
    offsets: list[int] = []
    pieces: list[str] = []
    at = 0
    for row in rows:
        if is_blank(row):
            blank += 1
            continue
        for fingerprint, outcome, why in _RULES.verdicts(row):
            head, tail = _RENDER(row, outcome)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if why:
                reasons.add(why, row.number)
            fingerprints.append(fingerprint)
            offsets.append(at + len(head))
            pieces += (head, fingerprint, tail)
            at += len(head) + len(fingerprint) + len(tail)
    text = "".join(pieces)
    return RenderedPart(os.getpid(), len(rows), blank, counts, reasons, fingerprints, offsets, text)


def _check_chunk(
    rows: list[tuple[int, tuple[Cell, ...], tuple[str, ...]]],
) -> tuple[int, list[Verdicts]]:
    assert _RULES is not None
    checked = (Row(*plain) for plain in rows)
    return os.getpid(), [None if is_blank(row) else _RULES.verdicts(row) for row in checked]
