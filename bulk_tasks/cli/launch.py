"""The ``bulk-tasks`` command's entry point.

Before the command's own imports (pydantic, typer, the vendors: a third of a second), it
starts loading the spreadsheet the command line names, in a thread, so that the two
overlap; :mod:`bulk_tasks.cli.commands` then does the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ..rows.inputs import SHEET_EXTENSIONS, read_ahead


def main() -> None:
    spreadsheet = named_spreadsheet(sys.argv[1:])
    if spreadsheet is not None:
        read_ahead(spreadsheet)
    from .commands import main as command  # imported late: that is the point

    command()


def named_spreadsheet(args: Sequence[str]) -> Path | None:
    """The input of ``run`` or ``validate`` when it is a spreadsheet of its first sheet:
    the first argument after the command that is neither an option nor an option's value.
    A guess only; a wrong one costs a little work, never a wrong result."""
    if (
        not args
        or args[0] not in ("run", "validate")
        or any(arg == "--sheet" or arg.startswith("--sheet=") for arg in args)
    ):
        return None
    previous = ""
    for arg in args[1:]:
        is_value = previous.startswith("-") and "=" not in previous
        if not arg.startswith("-") and not is_value:
            path = Path(arg)
            return path if path.suffix.lower() in SHEET_EXTENSIONS else None
        previous = arg
    return None
