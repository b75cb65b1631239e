"""The ledger in a SQLite file: the user's data folder's, or one on a volume several runs
mount.

Each change is committed with ``synchronous=FULL`` before its method returns: a task recorded
outlives a power cut. Several processes share the file in WAL mode; one that finds it busy
waits (up to 30 s) rather than failing, and claims take the file with ``BEGIN IMMEDIATE``, so
of two processes claiming a line one gets it. ``PRAGMA user_version`` says which version of
the tables the file holds, so that a later version can move them on.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import LedgerUnavailable
from ...sending.sharing.sqlite_store import write_ahead
from ._sql import SQLLedger

#: the version of the tables (:data:`~._sql.TABLES`), in ``PRAGMA user_version``
VERSION = 1
#: how long a statement waits for other processes holding the file (seconds)
BUSY_TIMEOUT = 30.0


class SQLiteLedger(SQLLedger):
    """The ledger file at ``path`` (made, with its folder, when missing). ``fix`` ends the
    message of a file that cannot be opened."""

    def __init__(
        self,
        path: Path,
        *,
        fix: str = "give --ledger a file in a folder you can write",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(where=str(path), clock=clock)
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise LedgerUnavailable(
                f"the task ledger {path} cannot be opened ({error}); {fix}"
            ) from None
        try:
            self._prepare(fix)
        except BaseException:
            self.db.close()
            raise

    def _prepare(self, fix: str) -> None:
        try:
            write_ahead(self.db, timeout=BUSY_TIMEOUT)
            self.db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as error:
            raise LedgerUnavailable(
                f"the task ledger {self.path} cannot be opened ({error}); {fix}"
            ) from None
        with self._transaction("making its tables"):
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._make_tables()
                self.db.execute(f"PRAGMA user_version = {VERSION}")
            elif version > VERSION:
                raise LedgerUnavailable(
                    f"the task ledger {self.path} was written by a later version of "
                    f"bulk-tasks (its tables are version {version}); upgrade bulk-tasks"
                )

    @contextlib.contextmanager
    def _transaction(self, doing: str, *, write: bool = True) -> Iterator[None]:
        db = self.db
        try:
            if write:
                db.execute("BEGIN IMMEDIATE")
            yield
            if db.in_transaction:
                db.execute("COMMIT")
        except sqlite3.Error as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise LedgerUnavailable(
                f"the task ledger {self.path} failed while {doing} ({error}); check the "
                "disk and the file's permissions, then run again with --resume"
            ) from None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, parameters).fetchall()

    def _change(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, parameters).rowcount

    def close(self) -> None:
        self.db.close()
