"""Which way round each date column writes its slashed dates, told by the column itself.

``03/04/2026`` reads two ways, ``14/12/2026`` one: there is no month 14. Without
``--date-format``, the cells of the columns that feed date fields are read once before any
line is made (:func:`read_date_orders`), and each column is decided by its own cells:

- a first part above 12 somewhere in the column: day first (DMY);
- a second part above 12: month first (MDY);
- both: the column mixes the orders, and none of its slashed dates is read
  (:class:`~bulk_tasks.rows.cells.MixedOrders` names a cell of each);
- neither: its slashed dates stay ambiguous, and ``--date-format`` is asked for.

Excel date cells and ISO dates (``2026-12-14``) neither tell nor need an order. The
decisions go into the run's :class:`~bulk_tasks.rows.cells.Reading`, by field, and a note says
each column's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from ..vendors.base import Spec
from .cells import (
    MIXED_FIX,
    DateCell,
    DateOrder,
    MixedOrders,
    Reading,
    date_fields,
    is_slashed,
    order_shown,
)
from .columns import ColumnMap
from .inputs import Row

_SPELLED = {DateOrder.DMY: "day/month/year", DateOrder.MDY: "month/day/year"}


class ColumnDates:
    """What the slashed dates of one column (or one ``--set`` value) show, cell by cell."""

    def __init__(self) -> None:
        self.day_first: DateCell | None = None
        self.month_first: DateCell | None = None
        #: the first slashed date that reads both ways
        self.either: DateCell | None = None

    def see(self, row: int | None, text: str) -> None:
        shown = order_shown(text)
        if shown is DateOrder.DMY:
            self.day_first = self.day_first or DateCell(row, text)
        elif shown is DateOrder.MDY:
            self.month_first = self.month_first or DateCell(row, text)
        elif self.either is None and is_slashed(text):
            self.either = DateCell(row, text)

    @property
    def order(self) -> DateOrder | MixedOrders | None:
        """How the slashed dates are read (None: nothing tells)."""
        if self.day_first and self.month_first:
            return MixedOrders(day_first=self.day_first, month_first=self.month_first)
        if self.day_first:
            return DateOrder.DMY
        return DateOrder.MDY if self.month_first else None

    def note(self, source: str) -> str | None:
        """Which rule decided the column (``source`` names it); None when no slashed date
        needed one."""
        order = self.order
        if isinstance(order, MixedOrders):
            return f"{source} {order.both_orders}: none of its slashed dates is read; {MIXED_FIX}"
        if order is not None:
            shown = self.day_first or self.month_first
            assert shown is not None
            return f"{source} read as {_SPELLED[order]} ({order}): row {shown.row} has {shown.text}"
        if self.either is not None:
            return (
                f"{source} has dates that read both ways (row {self.either.row}: "
                f"{self.either.text}) and none with a day or month above 12 to tell; pass "
                "--date-format DMY or MDY, or write them as 2026-04-03"
            )
        return None


def read_date_orders(
    reading: Reading,
    columns: ColumnMap,
    model: type[Spec],
    rows: Callable[[], Iterable[Row]],
) -> tuple[Reading, list[str]]:
    """``reading`` with the order each date field's cells show, and a note per column that
    has slashed dates. The rows are read only when no ``--date-format`` is given and a
    column feeds a date field; only those columns' cells are looked at."""
    if reading.date_order is not None:
        return reading, []
    fields = [f for f in date_fields(model) if f in columns.columns or f in columns.constants]
    seen = {field: ColumnDates() for field in fields}
    for field in fields:
        if field in columns.constants:  # a --set value wins over the column: it alone tells
            seen[field].see(None, columns.constants[field])
    read = [(columns.columns[f], seen[f]) for f in fields if f not in columns.constants]
    if read:
        for row in rows():
            for position, dates in read:
                cell = row.cells[position]
                if isinstance(cell, str) and cell:  # a date cell is no slashed date
                    dates.see(row.number, cell)
    notes = [
        note
        for field in fields
        if field not in columns.constants and (note := seen[field].note(columns.source(field)))
    ]
    decided = {f: order for f, dates in seen.items() if (order := dates.order) is not None}
    return dataclasses.replace(reading, field_orders=decided), notes
