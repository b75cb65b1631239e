"""The task ledger: every task a run creates or finds, so that no later run creates it again
(another file, another machine, a results file lost).

    local (the default)          a SQLite file in the user's data folder (:mod:`.sqlite_store`;
                                 ``BULK_TASKS_DATA_DIR`` moves the folder)
    PATH                         a SQLite file there (a folder, or a path ending in /, gets
                                 ``task-ledger.sqlite3`` inside): a volume the runs and
                                 containers of one machine share (SQLite's locks do not
                                 hold across a network file system)
    postgresql://USER@HOST/DB    a PostgreSQL database every machine reaches
                                 (:mod:`.postgres_store`)
    off                          no ledger

An entry is keyed by its :class:`Scope` (vendor, destination, a hash of the API key) and the
line's identity. It holds hashes of the values sent, the vendor's task id and where the line
was written: never a key, never a cell's content beyond the identity. A run claims a line
before sending its create (:meth:`Ledger.claim`), so that of two runs racing for it one
sends; a claim whose run is gone (:class:`RunState`) may be taken over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ...sending.sharing import LOCAL, OFF  # --ledger's words for these are --share's
from ...settings import POSTGRES_SCHEMES, check_ledger, shown

LEDGER_ENV = "BULK_TASKS_LEDGER"
#: moves the local ledger's folder
DATA_ENV = "BULK_TASKS_DATA_DIR"
#: the ledger's file, in the data folder or in a folder --ledger names
LEDGER_FILE = "task-ledger.sqlite3"
#: a run whose last heartbeat is older than this (seconds) is gone (killed, machine lost)
STALE = 10.0
#: how often a live run beats (seconds)
BEAT = 2.0


def ledger_folder() -> Path:
    """Where the local ledger lives: ``$BULK_TASKS_DATA_DIR``, else the user's data folder
    (``~/.local/share/bulk-tasks`` on Linux, or under ``$XDG_DATA_HOME``)."""
    import platformdirs

    given = os.environ.get(DATA_ENV, "").strip()
    return Path(given) if given else platformdirs.user_data_path("bulk-tasks")


def ledger_file(where: str) -> Path | None:
    """The SQLite file ``where`` names (``local`` or a path); None for off or a database."""
    if where == OFF or where.startswith(POSTGRES_SCHEMES):
        return None
    if where == LOCAL:
        return ledger_folder() / LEDGER_FILE
    path = Path(where).expanduser()
    folder = where.endswith(("/", os.sep)) or path.is_dir()  # a folder not made yet ends in /
    return path / LEDGER_FILE if folder else path


def open_ledger(where: str) -> Ledger | None:
    """The ledger ``where`` names (see the module's docstring); None for ``off``. Raises
    :class:`~bulk_tasks.errors.LedgerUnavailable` when it cannot be opened or reached."""
    if where == OFF:
        return None
    if where.startswith(POSTGRES_SCHEMES):
        from .postgres_store import PostgresLedger

        return PostgresLedger(where)
    from .sqlite_store import SQLiteLedger

    path = ledger_file(where)
    assert path is not None
    fix = (
        f"set {DATA_ENV} to a folder you can write, or give --ledger PATH"
        if where == LOCAL
        else "give --ledger a file in a folder you can write"
    )
    return SQLiteLedger(path, fix=fix)


def key_hash(key: str) -> str:
    """What names a key in the ledger: never the key itself."""
    import hashlib

    return hashlib.sha256(f"bulk-tasks ledger 1\0{key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Scope:
    """Whose tasks: a vendor's, sent to one destination with one key."""

    vendor: str  # "lemlist", "saleshandy", "attio"
    #: where the tasks went, as the results file's destination says (the vendor, or its sandbox)
    destination: str
    key_hash: str


@dataclass(frozen=True)
class Claim:
    """What a run writes of a line."""

    #: the line's identity: its fingerprint, or the user's row key ("/prospect" for Saleshandy)
    identity: str
    #: field name -> a short hash of the value sent (no cell contents: hashes only)
    fields: Mapping[str, str]
    #: the results file's absolute path, and the line's row number in it
    results: str
    row: int


@dataclass(frozen=True)
class Entry:
    """What the ledger holds of one identity."""

    scope: Scope
    identity: str
    task_id: str  # "" while only claimed
    fields: Mapping[str, str]
    results: str
    row: int
    run_id: str  # the run that claimed or created it
    claimed_at: float  # epoch seconds
    created_at: float | None  # None: claimed, no task known yet
    updated_at: float | None  # the last edit a sync sent
    #: when the claim's create was last sent (None: never: a run that takes the claim over
    #: sends it; sent, it looks the task up first)
    sent_at: float | None = None

    @property
    def created(self) -> bool:
        return self.created_at is not None

    @property
    def when(self) -> float:
        """When it was created, or else claimed."""
        return self.claimed_at if self.created_at is None else self.created_at


class RunState(StrEnum):
    ALIVE = "alive"
    ENDED = "ended"
    #: never seen, or its last beat is older than :data:`STALE`
    GONE = "gone"


class Ledger(Protocol):
    """A store of entries; each method is one short transaction, durable when it returns.
    Failures raise :class:`~bulk_tasks.errors.LedgerUnavailable`."""

    #: how messages name it: the file's path, or the URL without its password
    where: str

    def claim(self, scope: Scope, claim: Claim, *, run_id: str) -> Entry | None:
        """Atomically: when the ledger holds nothing for (scope, identity), record a claim by
        ``run_id`` (claimed now) and return None; otherwise return what it holds, unchanged.
        Of several processes or machines claiming at once, exactly one gets None."""
        ...

    def take_over(self, entry: Entry, *, run_id: str) -> bool:
        """Atomically move the claim ``entry`` (still a claim, still held by its run since its
        ``claimed_at``) to ``run_id``, claimed now; False when it changed meanwhile."""
        ...

    def created(self, scope: Scope, claim: Claim, *, task_id: str, run_id: str) -> None:
        """The identity was created as ``task_id`` (now), from the line ``claim`` says."""
        ...

    def updated(self, scope: Scope, identity: str, *, fields: Mapping[str, str]) -> None:
        """An edit was sent: its fields, updated now."""
        ...

    def sending(self, scope: Scope, identities: Sequence[str], *, run_id: str) -> None:
        """The creates of the claims ``identities`` that ``run_id`` holds are about to be
        sent (``sent_at`` now). Durable when it returns."""
        ...

    def release(self, scope: Scope, identity: str, *, run_id: str) -> None:
        """Delete the entry if it is still a claim held by ``run_id``."""
        ...

    def get(self, scope: Scope, identity: str) -> Entry | None: ...

    def beat(self, run_id: str, *, ended: bool = False) -> None:
        """The run is alive now (its host and pid recorded), or has ended."""
        ...

    def run_state(self, run_id: str) -> RunState: ...

    def entries(
        self,
        *,
        vendor: str | None = None,
        identity: str | None = None,
        results: str | None = None,
        since: float | None = None,
        before: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Entry]:
        """The entries the filters keep (created, else claimed, at ``since`` or later and
        before ``before``), newest first."""
        ...

    def count(self) -> list[tuple[str, str, int, int]]:
        """(vendor, destination, created, claimed) for each vendor and destination."""
        ...

    def forget(
        self,
        *,
        vendor: str | None = None,
        identity: str | None = None,
        results: str | None = None,
        before: float | None = None,
    ) -> int:
        """Remove the entries the filters keep (every entry with none); how many."""
        ...

    def close(self) -> None: ...


__all__ = [
    "BEAT",
    "DATA_ENV",
    "LEDGER_ENV",
    "LEDGER_FILE",
    "LOCAL",
    "OFF",
    "POSTGRES_SCHEMES",
    "STALE",
    "Claim",
    "Entry",
    "Ledger",
    "RunState",
    "Scope",
    "check_ledger",
    "key_hash",
    "ledger_file",
    "ledger_folder",
    "open_ledger",
    "shown",
]
