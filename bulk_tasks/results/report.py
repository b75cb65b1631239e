"""The XLSX report of a reconcile, for people who would rather look than read (openpyxl).

A summary sheet first: lines per status with a bar chart of them, rows fully, partly and
not created (Saleshandy), the top errors, what to check in the vendor's app (unknown lines,
possible duplicates), and the files reconciled with their dates. Then one sheet per status
that occurs, with its lines (the first 100,000: a report is for looking, the results files
hold every line) at their rows of the original input, each with the results file it comes
from and its row there: the header row frozen, a filter on it, columns fitted to their
contents, and failures highlighted (one conditional format a sheet, so that a big
sheet costs no more than its values). Every cell is a value, never a formula (see
:mod:`bulk_tasks.rows.safe_cells`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from ..errors import ResultsError
from ..rows.safe_cells import RISKY_STARTS
from . import RESULT_COLUMNS, vendor_of
from .reconcile import DONE, Reconciled, full_lines, own_columns
from .xlsx import open_for_writing

ORDER = ("created", "updated", "skipped", "invalid", "failed", "unknown", "not_sent")
FILLS = {
    "invalid": PatternFill("solid", start_color="F8D7DA"),
    "failed": PatternFill("solid", start_color="F8D7DA"),
    "unknown": PatternFill("solid", start_color="FFF3CD"),
    "not_sent": PatternFill("solid", start_color="FFF3CD"),
}
BOLD = Font(bold=True)
WIDEST = 60
MOST_LINES = 100_000  # per status sheet
#: a status sheet's first columns: the row of the original input, where the line stands
_FIRST = ("row", "file", "row in file")
NUMBERS = ("row", "row in file", "http_status", "attempts")
UNKNOWN_WHY = (
    "sent, but no answer said what became of them: the task may exist; check before sending "
    "again (a line's error_message says what is known)"
)
DOUBTFUL_WHY = "done in one file and unknown in another: the task may exist twice"


def _cell(sheet: Any, value: object, *, bold: bool = False, fill: PatternFill | None = None) -> Any:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text, even when it starts with =
    if bold:
        cell.font = BOLD
    if fill is not None:
        cell.fill = fill
    return cell


def _printable(sheet: Any) -> Any:
    """Printed landscape, one page wide."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return sheet


def _fit(sheet: Any, rows: Sequence[Sequence[object]]) -> None:
    """Column widths from the longest value in the first thousand rows, within bounds."""
    widths: dict[int, int] = {}
    for row in rows[:1000]:
        for index, value in enumerate(row, 1):
            longest = max((len(part) for part in str(value).splitlines()), default=0)
            widths[index] = max(widths.get(index, 8), min(longest + 2, WIDEST))
    for index, width in widths.items():
        sheet.column_dimensions[get_column_letter(index)].width = width


def write_report(reconciled: Reconciled, path: Path) -> None:
    if path.suffix.lower() != ".xlsx":
        raise ResultsError(f"--report {path}: the report is an XLSX file; name it ….xlsx")
    with open_for_writing(path) as out:  # a path that cannot be written fails before the work
        workbook = Workbook(write_only=True)
        _summary_sheet(workbook, reconciled)
        for status in [s for s in ORDER if reconciled.counts.get(s)]:
            lines = islice(full_lines(reconciled, [status]), MOST_LINES)
            _status_sheet(workbook, status, lines)
        workbook.save(out)


def _summary_sheet(workbook: Workbook, reconciled: Reconciled) -> None:
    sheet = _printable(workbook.create_sheet("Summary"))
    for column, width in zip("ABCD", (36, 18, 14, 100), strict=True):
        sheet.column_dimensions[column].width = width  # before the first row, in write-only
    rows = 0

    def put(*values: object, bold: bool = False) -> None:
        nonlocal rows
        rows += 1
        sheet.append([_cell(sheet, value, bold=bold) for value in values])

    put("bulk-tasks reconcile", bold=True)
    put("made", datetime.now().strftime("%Y-%m-%d %H:%M"))
    if reconciled.sandbox:
        vendor = vendor_of(reconciled.destination)
        put("sent to", f"the built-in sandbox: none of these tasks exists at {vendor}", bold=True)
    put()
    put("status", "lines", bold=True)
    first = rows + 1
    statuses = [s for s in ORDER if reconciled.counts.get(s)]
    for status in statuses:
        put(status, reconciled.counts[status])
    last = rows
    put("total", sum(reconciled.counts.values()), bold=True)
    if reconciled.has_prospects:
        fully, partly, none = reconciled.rows_created()
        put()
        put("rows", "count", bold=True)
        put("fully created", fully)
        put("partly created", partly)
        put("not created", none)
    if statuses:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Lines per status"
        chart.legend = None
        chart.add_data(Reference(sheet, min_col=2, min_row=first, max_row=last))
        chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
        chart.width, chart.height = 15, 7  # cm: about 14 rows beside the tables
        sheet.add_chart(chart, "C3")
    while rows < 18:  # what follows goes below the chart
        put()
    errors = reconciled.top_errors()
    if errors:
        put()
        put("top errors", "lines", "first rows", "example", bold=True)
        for code, lines, where, example in errors:
            short = example if len(example) <= 100 else example[:99] + "…"  # whole on its sheet
            put(code, lines, where.listed(), short)
    unknown = reconciled.counts.get("unknown", 0)
    doubtful = reconciled.disagreements.height
    if unknown or doubtful:
        put()
        put("to check in the vendor's app", "lines", "first rows", "why", bold=True)
    if unknown:
        where = reconciled.rows_with(["unknown"])
        put("unknown", unknown, where.listed(), UNKNOWN_WHY)
    if doubtful:
        where = reconciled.rows_with(DONE, reconciled.disagreements)
        put("possible duplicates", doubtful, where.listed(), DOUBTFUL_WHY)
    put()
    put("files reconciled (later ones win)", "modified", "lines", bold=True)
    for file in reconciled.files:
        put(str(file.path), file.modified.strftime("%Y-%m-%d %H:%M"), file.lines)


def _status_sheet(workbook: Workbook, status: str, lines: Iterable[dict[str, str]]) -> None:
    sheet = _printable(workbook.create_sheet(status))
    header, rows = _sheet_rows(lines)
    sheet.freeze_panes = "A2"
    _fit(sheet, [header, *rows])
    sheet.append([_cell(sheet, name, bold=True) for name in header])
    numbers = {header.index(name) for name in NUMBERS}
    for row in rows:
        sheet.append([_value(sheet, index in numbers, value) for index, value in enumerate(row)])
    area = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"
    sheet.auto_filter.ref = area
    if status in FILLS and rows:
        body = f"A2:{get_column_letter(len(header))}{len(rows) + 1}"
        sheet.conditional_formatting.add(body, FormulaRule(formula=["TRUE"], fill=FILLS[status]))


def _sheet_rows(lines: Iterable[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    """A status sheet's header and rows, by original row: each line at its row of the
    original input, the results file it stands in and its row there, then the results
    columns and the input's own (the columns a failed-rows file adds are left out)."""
    header = [*_FIRST, *RESULT_COLUMNS[1:]]
    cells: list[dict[str, str]] = []
    for line in lines:
        # the input's columns as its results file names them; one named like ours is told apart
        own = {
            name: f"{name} (input)" if name in _FIRST else name for name in own_columns(list(line))
        }
        header += [name for name in own.values() if name not in header]
        by_name = {name: line.get(name, "") for name in RESULT_COLUMNS[1:]}
        by_name |= {on_sheet: line[name] for name, on_sheet in own.items()}
        by_name |= {"row": line["_row"], "file": line["_file"], "row in file": line["row"]}
        cells.append(by_name)
    cells.sort(key=_by_original_row)
    return header, [[line.get(name, "") for name in header] for line in cells]


def _by_original_row(line: dict[str, str]) -> tuple[int, str, str]:
    row = line["row"]
    return (int(row) if row.isdigit() else 0, line["prospect_id"], line["file"])


def _value(sheet: Any, number: bool, value: str) -> object:
    """A number for our number columns, text otherwise; a text cell when it looks risky."""
    if number and value.isdigit():
        return int(value)
    return _cell(sheet, value) if value.startswith(RISKY_STARTS) else value
