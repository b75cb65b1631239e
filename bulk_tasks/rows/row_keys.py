"""``--row-key COLUMN``: the user's own id of each row's task (a CRM id, say), which the
task ledger knows the row by across runs and edits instead of its fingerprint.

The column is matched like every header (ignoring case, spaces, ``_`` and ``-``). Each
non-blank row needs a key of its own: a blank key, or one that several rows share, makes
those rows invalid, each naming the others, as no row can say which task is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ColumnError
from ..vendors.base import Problem
from .columns import normalise
from .inputs import Row, cell_text, is_blank

#: the problem "field" of a row whose key is blank or shared
ROW_KEY = "row_key"


@dataclass(frozen=True)
class RowKeys:
    """Where each row's key is, and the keys that several rows share."""

    #: the column's header, as the file writes it
    column: str
    position: int
    #: key -> the rows that share it (only keys on two rows or more)
    shared: Mapping[str, tuple[int, ...]]

    @classmethod
    def read(cls, name: str, headers: Sequence[str], rows: Callable[[], Iterable[Row]]) -> RowKeys:
        """The column ``name`` of ``headers``, and its keys read over every row of ``rows()``
        (a pass over the file of its own, as a repeat may come on its last row)."""
        wanted = normalise(name)
        position = next((i for i, header in enumerate(headers) if normalise(header) == wanted), -1)
        if position < 0:
            raise ColumnError(
                f'--row-key "{name}": the input has no such column; its columns are: '
                f"{', '.join(headers)}"
            )
        first: dict[str, int] = {}
        shared: dict[str, list[int]] = {}
        for row in rows():
            if is_blank(row) or position >= len(row.cells):
                continue
            key = cell_text(row.cells[position]).strip()
            if not key:
                continue
            if key in first:
                shared.setdefault(key, [first[key]]).append(row.number)
            else:
                first[key] = row.number
        return cls(headers[position], position, {k: tuple(v) for k, v in shared.items()})

    def key(self, row: Row) -> str:
        """The row's key ("" when blank)."""
        if self.position >= len(row.cells):
            return ""
        return cell_text(row.cells[self.position]).strip()

    def problem(self, row: Row) -> Problem | None:
        """Why the row's key cannot tell its task: blank, or another row's too; None: it can."""
        key = self.key(row)
        column = f'column "{self.column}"'
        if not key:
            return Problem(
                ROW_KEY,
                f"{column} is empty: with --row-key every row needs a key of its own (the "
                "task's id in your CRM, say); fill it in",
            )
        rows = self.shared.get(key)
        if rows is None:
            return None
        others = [str(number) for number in rows if number != row.number]
        which = "row " + others[0] if len(others) == 1 else "rows " + ", ".join(others)
        return Problem(
            ROW_KEY,
            f'{column} = "{key}" is also the key of {which}: with --row-key each row needs a '
            "key of its own, so none of them is sent; give each its own key",
            key,
            reason=f"{column} holds a key that other rows hold too: with --row-key each row "
            "needs a key of its own, so none of them is sent; give each its own key",
        )
