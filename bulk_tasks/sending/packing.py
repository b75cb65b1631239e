"""Lines -> requests: lines that ask for the same thing travel in one request.

For a vendor whose request carries one line (lemlist), every line is a request at once. For
one that carries many (Saleshandy: one task for up to 100 prospects), lines with the same
:meth:`~bulk_tasks.vendors.base.Vendor.pack_key` wait in an open batch, which goes out when

- it is full (``size`` lines),
- it has waited ``max_wait`` seconds (so a slow stream of rows is not held back),
- more than ``most_waiting`` lines wait in all (the oldest batch goes: memory stays flat),
- or the input ends (:meth:`Packer.drain`).

A subject (a prospect) never appears twice in one batch: a line whose subject a batch
already holds goes into another. With ``per_row``, lines of different rows never share a
request (``--no-pack``): the open batches go out whenever a new row begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..vendors.base import Ask, Request, Vendor

L = TypeVar("L")


@dataclass(frozen=True)
class Batch(Generic[L]):
    """One request and the lines it carries, in the order of the vendor's subjects."""

    request: Request
    lines: tuple[L, ...]


@dataclass
class _OpenBatch(Generic[L]):
    key: Hashable
    born: float
    lines: list[L] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)


class Packer(Generic[L]):
    """Gathers lines into requests; every method returns the requests ready to go."""

    def __init__(
        self,
        vendor: Vendor,
        *,
        row_of: Callable[[L], int],
        size: int,
        per_row: bool = False,
        max_wait: float = 1.0,
        most_waiting: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= size <= vendor.most_per_request:
            raise ValueError(f"{vendor.name} takes 1 to {vendor.most_per_request} lines a request")
        self._vendor = vendor
        self._row_of = row_of
        self._size = size
        self._per_row = per_row
        self._max_wait = max_wait
        self._most_waiting = most_waiting
        self._clock = clock
        self._open: dict[Hashable, list[_OpenBatch[L]]] = {}  # key -> its open batches
        self._by_age: dict[int, _OpenBatch[L]] = {}  # every open batch, oldest first
        self._waiting = 0
        self._row: int | None = None

    @property
    def waiting(self) -> int:
        """How many lines wait in open batches."""
        return self._waiting

    def add(self, line: L, ask: Ask) -> list[Batch[L]]:
        key = self._vendor.pack_key(ask.request)
        if key is None:
            return [Batch(ask.request, (line,))]
        ready: list[Batch[L]] = []
        if self._per_row and self._row_of(line) != self._row:
            ready += self.drain()
            self._row = self._row_of(line)
        batches = self._open.setdefault(key, [])
        batch = next((b for b in batches if ask.subject not in b.subjects), None)
        if batch is None:
            batch = _OpenBatch(key, self._clock())
            batches.append(batch)
            self._by_age[id(batch)] = batch
        batch.lines.append(line)
        batch.requests.append(ask.request)
        batch.subjects.add(ask.subject)
        self._waiting += 1
        if len(batch.lines) >= self._size:
            ready.append(self._close(batch))
        if self._waiting > self._most_waiting:
            ready.append(self._close(next(iter(self._by_age.values()))))
        return ready

    def due(self) -> list[Batch[L]]:
        """The batches that have waited long enough."""
        ready: list[Batch[L]] = []
        if not self._by_age:
            return ready
        now = self._clock()
        while self._by_age:
            oldest = next(iter(self._by_age.values()))
            if now - oldest.born < self._max_wait:
                break
            ready.append(self._close(oldest))
        return ready

    def drain(self) -> list[Batch[L]]:
        """Every open batch, oldest first (the input has ended, or a row has)."""
        return [self._close(batch) for batch in list(self._by_age.values())]

    def _close(self, batch: _OpenBatch[L]) -> Batch[L]:
        del self._by_age[id(batch)]
        batches = self._open[batch.key]
        batches.remove(batch)
        if not batches:
            del self._open[batch.key]
        self._waiting -= len(batch.lines)
        return Batch(self._vendor.merge(batch.requests), tuple(batch.lines))
