"""One run of the batch job: plan the input, let lines through the gate, send them, look
up the ones left unknown, and count what became of every row.

The entry points are :func:`validate`, :func:`run` and :func:`resolve`
(:mod:`~bulk_tasks.job.batch`); this package knows neither typer nor rich.
"""

from ..settings import Settings
from .batch import resolve, resolve_async, run, run_async, validate
from .plan import Plan
from .progress import LogProgress, Progress, Silent
from .state import Run
from .summary import Summary

__all__ = [
    "LogProgress",
    "Plan",
    "Progress",
    "Run",
    "Settings",
    "Silent",
    "Summary",
    "resolve",
    "resolve_async",
    "run",
    "run_async",
    "validate",
]
