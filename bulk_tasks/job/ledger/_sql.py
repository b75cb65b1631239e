"""The ledger's statements, shared by its stores: the same SQL runs on SQLite and on
PostgreSQL. A store says how to open its connection, run a statement and make a transaction;
this class says what each method of :class:`~bulk_tasks.job.ledger.Ledger` does."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...errors import LedgerUnavailable
from . import STALE, Claim, Entry, RunState, Scope

#: an entry's columns, in the order :func:`_entry` reads them
_COLUMNS = (
    "vendor, destination, key_hash, identity, task_id, fields, results, results_row, run_id, "
    "claimed_at, created_at, updated_at, sent_at"
)
_KEY = "vendor = ? AND destination = ? AND key_hash = ? AND identity = ?"
#: when an entry was created, else claimed: what "newest", --since and --before go by
_WHEN = "COALESCE(created_at, claimed_at)"
#: a claim found gone as soon as it conflicted (released meanwhile) is tried again so often
_CLAIM_ATTEMPTS = 3


#: the tables, as both stores make them (SQLite reads DOUBLE PRECISION as REAL)
TABLES = (
    """
CREATE TABLE IF NOT EXISTS {tasks} (
    vendor TEXT NOT NULL,
    destination TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    identity TEXT NOT NULL,
    task_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    results TEXT NOT NULL,
    results_row INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION,
    updated_at DOUBLE PRECISION,
    sent_at DOUBLE PRECISION,
    PRIMARY KEY (vendor, destination, key_hash, identity)
)""",
    """
CREATE TABLE IF NOT EXISTS {runs} (
    run_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    beat_at DOUBLE PRECISION NOT NULL,
    ended BOOLEAN NOT NULL
)""",
)


class SQLLedger:
    """A ledger of two tables: ``tasks`` (one row per scope and identity) and ``runs`` (each
    run's last heartbeat). ``clock`` gives epoch seconds (a test moves its own)."""

    #: the tables' names in the store
    tasks = "tasks"
    runs = "runs"

    def __init__(self, *, where: str, clock: Callable[[], float]) -> None:
        self.where = where
        self.clock = clock

    def _make_tables(self) -> None:
        for table in TABLES:
            self._change(table.format(tasks=self.tasks, runs=self.runs))

    # --- what a store provides ---------------------------------------------------------

    def _transaction(self, doing: str, *, write: bool = True) -> AbstractContextManager[None]:
        """Statements run inside are one transaction; errors become LedgerUnavailable."""
        raise NotImplementedError

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _change(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run a statement that writes; how many rows it changed."""
        raise NotImplementedError

    # --- the ledger -------------------------------------------------------------------

    def claim(self, scope: Scope, claim: Claim, *, run_id: str) -> Entry | None:
        with self._transaction("claiming a line"):
            for _ in range(_CLAIM_ATTEMPTS):
                inserted = self._change(
                    f"INSERT INTO {self.tasks} ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, NULL, NULL, NULL) "
                    "ON CONFLICT DO NOTHING",
                    (*_key(scope, claim.identity), *_line(claim), run_id, self.clock()),
                )
                if inserted:
                    return None
                held = self._find(scope, claim.identity)
                if held is not None:
                    return held
        raise LedgerUnavailable(
            f"the task ledger {self.where} kept changing while a line was claimed; run again "
            "with --resume"
        )

    def take_over(self, entry: Entry, *, run_id: str) -> bool:
        with self._transaction("taking over a claim"):
            changed = self._change(
                f"UPDATE {self.tasks} SET run_id = ?, claimed_at = ? WHERE {_KEY} "
                "AND run_id = ? AND claimed_at = ? AND created_at IS NULL",
                (
                    run_id,
                    self.clock(),
                    *_key(entry.scope, entry.identity),
                    entry.run_id,
                    entry.claimed_at,
                ),
            )
        return changed == 1

    def created(self, scope: Scope, claim: Claim, *, task_id: str, run_id: str) -> None:
        now = self.clock()
        with self._transaction("recording a task created"):
            self._change(
                f"INSERT INTO {self.tasks} ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) "
                "ON CONFLICT (vendor, destination, key_hash, identity) DO UPDATE SET "
                "task_id = excluded.task_id, fields = excluded.fields, "
                "results = excluded.results, results_row = excluded.results_row, "
                "run_id = excluded.run_id, created_at = excluded.created_at",
                (*_key(scope, claim.identity), task_id, *_line(claim), run_id, now, now, now),
            )

    def updated(self, scope: Scope, identity: str, *, fields: Mapping[str, str]) -> None:
        with self._transaction("recording an edit sent"):
            self._change(
                f"UPDATE {self.tasks} SET fields = ?, updated_at = ? WHERE {_KEY}",
                (_json(fields), self.clock(), *_key(scope, identity)),
            )

    def sending(self, scope: Scope, identities: Sequence[str], *, run_id: str) -> None:
        now = self.clock()
        with self._transaction("noting creates on their way"):
            for identity in identities:
                self._change(
                    f"UPDATE {self.tasks} SET sent_at = ? WHERE {_KEY} AND run_id = ? "
                    "AND created_at IS NULL",
                    (now, *_key(scope, identity), run_id),
                )

    def release(self, scope: Scope, identity: str, *, run_id: str) -> None:
        with self._transaction("releasing a claim"):
            self._change(
                f"DELETE FROM {self.tasks} WHERE {_KEY} AND run_id = ? AND created_at IS NULL",
                (*_key(scope, identity), run_id),
            )

    def get(self, scope: Scope, identity: str) -> Entry | None:
        with self._transaction("reading an entry", write=False):
            return self._find(scope, identity)

    def _find(self, scope: Scope, identity: str) -> Entry | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {self.tasks} WHERE {_KEY}", _key(scope, identity)
        )
        return _entry(rows[0]) if rows else None

    def beat(self, run_id: str, *, ended: bool = False) -> None:
        with self._transaction("noting the run alive"):
            self._change(
                f"INSERT INTO {self.runs} (run_id, host, pid, beat_at, ended) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "host = excluded.host, pid = excluded.pid, beat_at = excluded.beat_at, "
                "ended = excluded.ended",
                (run_id, socket.gethostname(), os.getpid(), self.clock(), ended),
            )

    def run_state(self, run_id: str) -> RunState:
        with self._transaction("reading a run's heartbeat", write=False):
            rows = self._rows(f"SELECT beat_at, ended FROM {self.runs} WHERE run_id = ?", (run_id,))
        if not rows:
            return RunState.GONE
        beat_at, ended = rows[0]
        if ended:
            return RunState.ENDED
        return RunState.ALIVE if self.clock() - beat_at <= STALE else RunState.GONE

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
        where, parameters = _filters(
            vendor=vendor, identity=identity, results=results, since=since, before=before
        )
        sql = f"SELECT {_COLUMNS} FROM {self.tasks}{_where(where)} ORDER BY {_WHEN} DESC"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        with self._transaction("listing entries", write=False):
            rows = self._rows(sql, parameters)
        return map(_entry, rows)

    def count(self) -> list[tuple[str, str, int, int]]:
        with self._transaction("counting entries", write=False):
            rows = self._rows(
                f"SELECT vendor, destination, COUNT(created_at), COUNT(*) - COUNT(created_at) "
                f"FROM {self.tasks} GROUP BY vendor, destination ORDER BY vendor, destination"
            )
        return [
            (vendor, destination, int(made), int(held)) for vendor, destination, made, held in rows
        ]

    def forget(
        self,
        *,
        vendor: str | None = None,
        identity: str | None = None,
        results: str | None = None,
        before: float | None = None,
    ) -> int:
        where, parameters = _filters(
            vendor=vendor, identity=identity, results=results, before=before
        )
        with self._transaction("forgetting entries"):
            return self._change(f"DELETE FROM {self.tasks}{_where(where)}", parameters)


def _key(scope: Scope, identity: str) -> tuple[str, str, str, str]:
    return scope.vendor, scope.destination, scope.key_hash, identity


def _line(claim: Claim) -> tuple[str, str, int]:
    return _json(claim.fields), claim.results, claim.row


def _json(fields: Mapping[str, str]) -> str:
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))


def _entry(row: tuple[Any, ...]) -> Entry:
    vendor, destination, hashed, identity, task_id, fields, results, number, *rest = row
    run_id, claimed_at, created_at, updated_at, sent_at = rest
    return Entry(
        scope=Scope(vendor=vendor, destination=destination, key_hash=hashed),
        identity=identity,
        task_id=task_id,
        fields=json.loads(fields),
        results=results,
        row=number,
        run_id=run_id,
        claimed_at=claimed_at,
        created_at=created_at,
        updated_at=updated_at,
        sent_at=sent_at,
    )


def _filters(
    *,
    vendor: str | None,
    identity: str | None,
    results: str | None,
    since: float | None = None,
    before: float | None = None,
) -> tuple[list[str], list[Any]]:
    """The conditions of the filters given, and their parameters: equal columns, and when
    an entry was created (else claimed) from ``since`` on and before ``before``."""
    given = {"vendor": vendor, "identity": identity, "results": results}
    kept = {column: value for column, value in given.items() if value is not None}
    where = [f"{column} = ?" for column in kept]
    parameters: list[Any] = list(kept.values())
    for bound, compared in ((since, ">="), (before, "<")):
        if bound is not None:
            where.append(f"{_WHEN} {compared} ?")
            parameters.append(bound)
    return where, parameters


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""
