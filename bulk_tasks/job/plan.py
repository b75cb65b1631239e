"""The plan of a run or a validation: the input opened, its columns matched to the action's
fields, its dates' order read, and the rules that make its rows lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from ..results.messages import counted
from ..rows.columns import ColumnMap, map_columns
from ..rows.date_orders import read_date_orders
from ..rows.inputs import Row, Table, is_blank, open_table
from ..rows.row_keys import RowKeys
from ..rows.rules import Line, Repeats, Rules
from ..settings import Settings
from .progress import Progress
from .summary import Summary


class Plan:
    """An opened input with its columns matched to the action's fields.

    With ``settings.limit``, the table stops at that many non-blank rows when
    ``read_past_limit`` is False (``validate``); otherwise every row is read, and the rows
    after the limit end ``not_sent`` at the gate (``run``: its results tell every row).
    """

    def __init__(self, settings: Settings, *, read_past_limit: bool = True) -> None:
        self.settings = settings
        self.vendor = settings.vendor
        model = self.vendor.spec(settings.action)
        assert model is not None  # Settings refuses an action the vendor does not have
        table = open_table(
            settings.input,
            sheet=settings.sheet,
            encoding=settings.encoding,
            delimiter=settings.delimiter,
        )
        self.columns: ColumnMap = map_columns(
            table.headers,
            model,
            mapping=settings.mapping,
            constants=settings.constants,
        )
        # a date column's order is the whole column's, --limit or not
        reading, self.date_notes = read_date_orders(
            settings.reading, self.columns, model, table.rows
        )
        #: with --row-key: where each row's key is, and the keys rows share (read over the
        #: whole file, --limit or not, as a key may be repeated on its last row)
        self.row_keys = (
            RowKeys.read(settings.row_key, table.headers, table.rows)
            if settings.row_key is not None
            else None
        )
        self._read_past_limit = read_past_limit
        if settings.limit is not None and not read_past_limit:
            table = table.first(settings.limit)
        self.table: Table = table
        self.rules = Rules(
            settings.target,
            settings.action,
            model,
            self.columns,
            reading,
            sandbox=settings.sandbox,
        )

    @property
    def results_delimiter(self) -> str:
        """What separates the cells of a CSV results file: a semicolon when the input's did
        (as Excel writes CSV where the decimal mark is a comma, and reads it back only so),
        else a comma."""
        return ";" if self.table.delimiter == ";" else ","

    def summary(self, results: Path) -> Summary:
        vendor, notes = self.vendor, [*self.table.notes, *self.date_notes]
        limit = self.settings.limit
        if limit is not None:
            rows = counted(limit, "rows")
            notes.append(
                f"--limit {limit}: only the first {rows} are sent; the rows after them end "
                "not_sent (beyond_limit): run again without --limit, with --resume, to send them"
                if self._read_past_limit
                else f"--limit {limit}: only the first {rows} are checked"
            )
        return Summary(
            results=results,
            line_noun=vendor.line_noun,
            vendor=vendor.title,
            notes=notes,
            validation=not self._read_past_limit,  # validate reads only what it checks
        )

    def lines(self, summary: Summary, progress: Progress) -> Iterator[Line]:
        """Every line of every non-blank row; blank rows are only counted."""
        repeats = Repeats()
        for row in self.table.rows():
            if is_blank(row):
                summary.rows.blank += 1
                progress.advance(None)
                continue
            lines = self.rules.lines(row)
            if self.row_keys is not None:
                _keyed(lines, row, self.row_keys)
            summary.rows.expect(row.number, len(lines))
            for line in lines:
                again = repeats(line.fingerprint)
                yield (
                    line
                    if again == line.fingerprint
                    else dataclasses.replace(line, fingerprint=again)
                )


def _keyed(lines: list[Line], row: Row, row_keys: RowKeys) -> None:
    """``row``'s lines given its key, or made invalid when its key cannot tell its task."""
    problem = row_keys.problem(row)
    for line in lines:
        if problem is None:
            line.row_key = row_keys.key(row)
        else:
            line.ask = None
            line.problems = (*line.problems, problem)
