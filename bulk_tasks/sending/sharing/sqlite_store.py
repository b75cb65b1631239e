"""A key's window shared by the processes of one machine: a SQLite file in the cache folder.

Each process that uses a window keeps its own slots in memory and publishes them in the
file as one row: the times its slots end (``holders``). Taking a slot is one short
``BEGIN IMMEDIATE`` transaction: read the other processes' rows, count what has not ended,
and publish this process's row with the new slot, atomically against every other process.
Ending a slot needs no transaction of its own: the row says the slot ends later than it
really does (its in-flight end) until the next take publishes it, or a flush 20 ms later,
so another process may wait longer than it must, never less.

A process that dies leaves a row whose slots end on their own; a row with nothing left in it
is deleted by whoever reads it.

Slots end by the machine's monotonic clock (:func:`time.monotonic`), which every process of
a machine shares on Linux, macOS and Windows and which nobody sets: the wall clock may be
stepped during a run (an NTP correction, a suspended VM resumed), and a step forward would
end every slot early by as much, letting a whole window's worth through at once. A row
written in the future comes from before the machine restarted (its monotonic clock started
again) and is dropped rather than obeyed, so a restart cannot stall the window. Processes in
containers with their own time namespace do not share a monotonic clock: they share a
window through Redis, not through a file on a common volume. One file holds the windows of
every key, each under the hash that names it (never the key). The file is in WAL mode and
not synced: a window worth keeping outlives no power cut.

The calls run on the event loop: each takes some tens of microseconds, less than handing it
to a thread would cost (``benchmarks/perf.py``'s client-cpu rows).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sqlite3
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import stamina

from ..window import FOREIGN_HOLDS, WindowUnavailable, foreign_ends

_SCHEMA = """
CREATE TABLE IF NOT EXISTS holders (
    window TEXT NOT NULL,
    holder TEXT NOT NULL,
    written REAL NOT NULL,
    ends BLOB NOT NULL,
    PRIMARY KEY (window, holder)
) WITHOUT ROWID
"""
#: the row of a window's pause: its one "end" is when the pause ends
_PAUSE = "~pause"
#: the row of another tool's requests on the key, as :func:`~bulk_tasks.window.foreign_ends`
_FOREIGN = "~foreign"
#: a row written more than this far in the future: written before the machine restarted
_CLOCK_SLACK = 1.0
#: how soon ended slots are published when no take publishes them first
_FLUSH_AFTER = 0.02
#: how long opening the file waits for other runs making it at the same moment (seconds)
_OPENING = 5.0


class SQLiteWindows:
    """The windows file of this machine, opened once per process."""

    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.monotonic, busy_timeout: float = 0.5
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self.db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        try:
            write_ahead(self.db, timeout=_OPENING)
            self.db.execute("PRAGMA synchronous=OFF")
            with self.transaction("opening it"):
                self.db.execute(_SCHEMA)
        except BaseException:
            self.db.close()
            raise
        #: this process's name in the rows it writes
        self.holder = secrets.token_hex(8)
        self._stores: list[SQLiteStore] = []

    def transaction(self, doing: str) -> _Transaction:
        return _Transaction(self, doing)

    def store(self, window: str) -> SQLiteStore:
        store = SQLiteStore(self, window)
        self._stores.append(store)
        return store

    def close(self) -> None:
        """Publish what each window's slots really end at, then close the file."""
        try:
            for store in self._stores:
                store.flush()
        finally:
            self.db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error); SQLite's errors become
    :class:`~bulk_tasks.sending.window.WindowUnavailable`, saying what was being done."""

    def __init__(self, windows: SQLiteWindows, doing: str) -> None:
        self._windows = windows
        self._doing = doing

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._windows.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._unavailable(error) from None
        return self._windows.db

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: object
    ) -> None:
        db = self._windows.db
        if kind is None:
            try:
                db.execute("COMMIT")
            except sqlite3.Error as failed:
                db.execute("ROLLBACK")
                raise self._unavailable(failed) from None
            return
        if db.in_transaction:
            db.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise self._unavailable(error) from None

    def _unavailable(self, error: sqlite3.Error) -> WindowUnavailable:
        return WindowUnavailable(
            f"the shared rate window in {self._windows.path} failed while {self._doing} "
            f"({error}); run again with --resume (or with --share off if it goes on)"
        )


class SQLiteStore:
    """One key's window in the machine's windows file: a
    :class:`~bulk_tasks.sending.window.WindowStore`."""

    def __init__(self, windows: SQLiteWindows, window: str) -> None:
        self._windows = windows
        self._window = window
        self._in_flight: dict[str, float] = {}  # this process's slots with no answer yet
        self._answered: deque[float] = deque()  # when the others end, in order
        self._unpublished = False  # slots ended since the row was last written
        #: another tool's requests answers showed, and until when they count: not written yet
        self._foreign_seen: list[tuple[int, float]] = []
        self._flush: asyncio.TimerHandle | None = None

    async def take(self, slot: str, *, limit: int, hold: float) -> tuple[float, int]:
        now = self._windows.clock()
        self._end_own(now)
        with self._windows.transaction("taking a slot") as db:
            seen = self._read_others(db, now)
            self._write_foreign(db, seen, now)
            if seen.paused > now:
                return seen.paused - now, self._own() + seen.others
            room = limit - (self._own() + seen.others + len(seen.foreign))
            if room > 0:
                self._in_flight[slot] = now + hold
                self._publish(db, now)
                return 0.0, self._own() + seen.others
            if self._unpublished:
                self._publish(db, now)
        first = min(seen.first, *seen.foreign[:1], *self._first_own())
        return first - now, self._own() + seen.others

    async def release(self, slot: str, *, hold: float, foreign: int) -> None:
        now = self._windows.clock()
        self._in_flight.pop(slot, None)
        self._answered.append(now + hold)
        if foreign > 0:
            self._foreign_seen.append((foreign, now + FOREIGN_HOLDS * hold))
        self._unpublished = True
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(_FLUSH_AFTER, self.flush)

    async def pause(self, seconds: float) -> None:
        now = self._windows.clock()
        with self._windows.transaction("pausing") as db:
            row = db.execute(
                "SELECT written, ends FROM holders WHERE window = ? AND holder = ?",
                (self._window, _PAUSE),
            ).fetchone()
            if (
                row is not None
                and row[0] <= now + _CLOCK_SLACK
                and _ends(row[1])[0] >= now + seconds
            ):
                return
            db.execute(
                "INSERT OR REPLACE INTO holders VALUES (?, ?, ?, ?)",
                (self._window, _PAUSE, now, array("d", [now + seconds]).tobytes()),
            )

    def flush(self) -> None:
        """Publish the slots ended since the last take (when nothing else did)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self._unpublished:
            return
        now = self._windows.clock()
        self._end_own(now)
        try:
            with self._windows.transaction("ending slots") as db:
                if self._foreign_seen:
                    self._write_foreign(db, self._read_others(db, now), now)
                self._publish(db, now)
        except WindowUnavailable:
            pass  # the row says the slots end later than they do: safe; the next take retries

    def _end_own(self, now: float) -> None:
        answered = self._answered
        while answered and answered[0] <= now:
            answered.popleft()
        in_flight = self._in_flight
        while in_flight and (oldest := next(iter(in_flight.items())))[1] <= now:
            del in_flight[oldest[0]]

    def _own(self) -> int:
        return len(self._in_flight) + len(self._answered)

    def _first_own(self) -> tuple[float, float]:
        in_flight = next(iter(self._in_flight.values()), float("inf"))  # the oldest first
        return in_flight, self._answered[0] if self._answered else float("inf")

    def _read_others(self, db: sqlite3.Connection, now: float) -> _Seen:
        """What the other rows of the window say now. Rows with nothing left in them, or
        written in the future, are deleted."""
        seen, gone = _Seen(), []
        for holder, written, blob in db.execute(
            "SELECT holder, written, ends FROM holders WHERE window = ? AND holder != ?",
            (self._window, self._windows.holder),
        ):
            live = [end for end in _ends(blob) if end > now]
            if not live or written > now + _CLOCK_SLACK:
                gone.append((self._window, holder))
            elif holder == _PAUSE:
                seen.paused = live[0]
            elif holder == _FOREIGN:
                seen.foreign = live  # sorted
            else:
                seen.others += len(live)
                seen.first = min(seen.first, *live)
        if gone:
            db.executemany("DELETE FROM holders WHERE window = ? AND holder = ?", gone)
        return seen

    def _write_foreign(self, db: sqlite3.Connection, seen: _Seen, now: float) -> None:
        """Another tool's requests that answers showed, into the window's ``~foreign`` row."""
        if not self._foreign_seen:
            return
        for count, until in self._foreign_seen:
            seen.foreign = foreign_ends(seen.foreign, now=now, seen=count, until=until)
        self._foreign_seen.clear()
        db.execute(
            "INSERT OR REPLACE INTO holders VALUES (?, ?, ?, ?)",
            (self._window, _FOREIGN, now, array("d", seen.foreign).tobytes()),
        )

    def _publish(self, db: sqlite3.Connection, now: float) -> None:
        """This process's row: when each of its slots ends (in no order)."""
        ends = array("d", itertools.chain(self._in_flight.values(), self._answered))
        db.execute(
            "INSERT OR REPLACE INTO holders VALUES (?, ?, ?, ?)",
            (self._window, self._windows.holder, now, ends.tobytes()),
        )
        self._unpublished = False


@dataclass
class _Seen:
    """The other rows of a window, as one process reads them."""

    others: int = 0  # the other processes' slots not ended
    first: float = float("inf")  # when the first of them ends
    paused: float = 0.0  # when the pause ends
    foreign: list[float] = field(default_factory=list)  # another tool's, sorted


def _ends(blob: bytes) -> array[float]:
    ends = array("d")
    ends.frombytes(blob)
    return ends


def write_ahead(db: sqlite3.Connection, *, timeout: float) -> None:
    """``db`` in WAL mode. Runs that start together on a new file race to make it: turning
    WAL on asks for the file alone and does not wait for the others, so it is tried again,
    for ``timeout`` seconds at most."""
    for attempt in stamina.retry_context(
        on=_busy, attempts=None, timeout=timeout, wait_initial=0.005, wait_max=0.05
    ):
        with attempt:
            db.execute("PRAGMA journal_mode=WAL")


def _busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "another connection holds the file"."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.OperationalError) and code in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )
