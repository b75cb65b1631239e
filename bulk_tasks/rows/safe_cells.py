"""Cells that a spreadsheet program would run as a formula, written so that it cannot.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return may be taken
for a formula when a CSV file is opened in Excel or LibreOffice (CSV injection). Following
OWASP's advice, every CSV file this tool writes puts a ``'`` before such a cell, and every
XLSX file stores it as a text cell, never a formula. Values are sent to the vendor exactly
as the user wrote them; only files are defused. When a file this tool wrote comes back as
input, :func:`restore` gives back the value as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

#: what a cell may start with to be run as a formula
RISKY_STARTS = ("=", "+", "-", "@", "\t", "\r")
_RISKY_FIRST = frozenset(RISKY_STARTS)


def defuse(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet program runs."""
    return f"'{text}" if text[:1] in _RISKY_FIRST else text


def defuse_all(cells: Iterable[str]) -> list[str]:
    """Every cell of a CSV line defused (one pass: this runs for every line written)."""
    return [f"'{text}" if text[:1] in _RISKY_FIRST else text for text in cells]


def restore(text: str) -> str:
    """A cell :func:`defuse` wrote, as it was."""
    return text[1:] if text.startswith("'") and text[1:].startswith(RISKY_STARTS) else text
