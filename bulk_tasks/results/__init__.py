"""The results file, which is also the run's journal.

The file reports on *lines*: one per row, or one per row and prospect for a vendor whose
task names many prospects (Saleshandy); each line ends with an :class:`Outcome`. While a run
works, the file only grows. Right before a request goes out, a line with status ``sending``
is written for each line it carries and made durable (flushed, and fsynced once for the
request, not once per line); when the answer comes, a second line with the outcome
follows. Whatever stops the run, even ``kill -9``, the file tells every line's state: a
line whose last entry says ``sending`` may have reached the vendor, and
:func:`read_journal` reports it as ``unknown``. When a run ends (finished, stopped, or
interrupted), the file is compacted in place: one entry per line, no ``sending`` entries.

Lines are known by their *fingerprint* (the ``fingerprint`` column): a hash of what the line
asks for, plus ``#2``, ``#3``... for identical lines after the first, so an edited row makes
new lines and an unchanged one is recognised even when rows were inserted above it.

The format follows the extension: ``.csv`` (the default), ``.jsonl``, or ``.xlsx``. An XLSX
cannot be appended to, so its journal is a CSV beside it (``NAME.xlsx.partial.csv``) until
the run ends and the workbook is written from it. CSV and XLSX files are safe to open in a
spreadsheet program: no cell can run as a formula (see :mod:`bulk_tasks.rows.safe_cells`).

The modules: :mod:`~bulk_tasks.results.outcomes` (what a line says: its status and the
columns), :mod:`~bulk_tasks.results.messages` (its message's facts, worded in one place and
read back), :mod:`~bulk_tasks.results.formats` (how lines are written and read: CSV, JSON
Lines), :mod:`~bulk_tasks.results.journal` (the run's journal: writing, compacting, reading
back), :mod:`~bulk_tasks.results.xlsx` (workbooks in and out).
"""

from .formats import delimiter_of
from .journal import (
    Journal,
    compact,
    destination_in,
    may_hold_tasks,
    read_journal,
    sent_elsewhere,
)
from .messages import Facts, Looked, Lookup, NamedCells, read_message, render_message
from .outcomes import (
    CORE_COLUMNS,
    DESTINATION,
    DONE,
    EXISTS_OR_MAY,
    INTERRUPTED,
    RESULT_COLUMNS,
    SANDBOX,
    Outcome,
    SentBefore,
    Status,
    check_format,
    default_path,
    destination_of,
    input_columns,
    is_sandbox,
    journal_path,
    result_headers,
    vendor_of,
)
from .xlsx import write_table

__all__ = [
    "CORE_COLUMNS",
    "DESTINATION",
    "DONE",
    "EXISTS_OR_MAY",
    "INTERRUPTED",
    "RESULT_COLUMNS",
    "SANDBOX",
    "Facts",
    "Journal",
    "Looked",
    "Lookup",
    "NamedCells",
    "Outcome",
    "SentBefore",
    "Status",
    "check_format",
    "compact",
    "default_path",
    "delimiter_of",
    "destination_in",
    "destination_of",
    "input_columns",
    "is_sandbox",
    "journal_path",
    "may_hold_tasks",
    "read_journal",
    "read_message",
    "render_message",
    "result_headers",
    "sent_elsewhere",
    "vendor_of",
    "write_table",
]
