"""The ledger in a PostgreSQL database: the runs of every machine that reaches it share it.

Its tables are ``bulk_tasks_ledger`` (one row per scope and identity) and ``bulk_tasks_runs``
(each run's last heartbeat), in the connection's schema (``search_path``; add
``?options=-csearch_path%3DNAME`` to the URL for another). The first run makes them, under a
transaction-scoped advisory lock so that two machines starting at once do not both try. The
connection is in autocommit: each method is one short transaction of its own, committed (so
durable) when it returns. A claim is ``INSERT ... ON CONFLICT DO NOTHING``: of two machines
claiming a line, the database lets one insert it.

psycopg is imported here only, when a ``postgresql://`` ledger is opened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import LedgerUnavailable
from . import shown
from ._sql import SQLLedger

if TYPE_CHECKING:
    import psycopg

#: the advisory lock the runs making the tables take: any number, the same for every run
_MAKING_TABLES = 0x6275_6C6B_7461
#: how long connecting may take before the server counts as unreachable (seconds)
CONNECT_TIMEOUT = 5


class PostgresLedger(SQLLedger):
    """The ledger in the database ``url`` names (its tables made when missing)."""

    tasks = "bulk_tasks_ledger"
    runs = "bulk_tasks_runs"

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        import psycopg

        super().__init__(where=shown(url), clock=clock)
        try:
            self.db: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as error:
            raise LedgerUnavailable(
                f"the task ledger {self.where} cannot be reached ({_reason(error)}): check that "
                "PostgreSQL runs there, that it lets this machine in with that user and "
                "password, and that the database exists; or give --ledger local"
            ) from None
        try:
            with self._transaction("making its tables"):
                self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_MAKING_TABLES,))
                self._make_tables()
        except BaseException:
            self.db.close()
            raise

    @contextlib.contextmanager
    def _transaction(self, doing: str, *, write: bool = True) -> Iterator[None]:
        import psycopg

        try:
            with self.db.transaction():
                yield
        except psycopg.Error as error:
            raise LedgerUnavailable(
                f"the task ledger {self.where} failed while {doing} ({_reason(error)}); check that "
                "the database runs and this user may write its tables, then run again with "
                "--resume"
            ) from None

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(_placeholders(sql), parameters).fetchall()

    def _change(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return self.db.execute(_placeholders(sql), parameters).rowcount

    def close(self) -> None:
        self.db.close()


def _placeholders(sql: str) -> str:
    """The shared statements' ``?`` as psycopg's ``%s`` (none of them holds a ``?`` or ``%``
    of its own)."""
    return sql.replace("?", "%s")


def _reason(error: psycopg.Error) -> str:
    """The first line of what the driver says (never the password: libpq does not repeat it)."""
    said = str(error).strip()
    return said.splitlines()[0] if said else type(error).__name__
