"""Turn a spreadsheet of sales tasks into real tasks, under the vendor's rate limit.

The library surface: :func:`validate`, :func:`run` and :func:`resolve` take a
:class:`Settings` (and, to send, a key: else the vendor's variable is read) and return the
run's :class:`Summary`; :func:`reconcile` settles the lines of several results files;
:class:`LogProgress` logs a run's progress. Every error a user can fix is a
:class:`BulkTasksError`, whose message says what to do. The ``bulk-tasks`` command is a
thin layer over them::

    from pathlib import Path

    import bulk_tasks

    settings = bulk_tasks.Settings(input=Path("tasks.csv"), target="lemlist")
    summary = bulk_tasks.run(settings)  # the key: LEMLIST_API_KEY

The names are imported on first use, so that ``bulk-tasks --help`` and the entry point
stay quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .errors import BulkTasksError
    from .job import LogProgress, Progress, Summary, resolve, run, validate
    from .keys import Keys
    from .results import Status
    from .results.reconcile import Reconciled, reconcile
    from .settings import Settings

#: each public name, and the module it comes from
_PUBLIC = {
    "run": "bulk_tasks.job.batch",
    "validate": "bulk_tasks.job.batch",
    "resolve": "bulk_tasks.job.batch",
    "Summary": "bulk_tasks.job.summary",
    "Progress": "bulk_tasks.job.progress",
    "LogProgress": "bulk_tasks.job.progress",
    "Settings": "bulk_tasks.settings",
    "Keys": "bulk_tasks.keys",
    "Status": "bulk_tasks.results",
    "reconcile": "bulk_tasks.results.reconcile",
    "Reconciled": "bulk_tasks.results.reconcile",
    "BulkTasksError": "bulk_tasks.errors",
}

__all__ = [
    "BulkTasksError",
    "Keys",
    "LogProgress",
    "Progress",
    "Reconciled",
    "Settings",
    "Status",
    "Summary",
    "__version__",
    "reconcile",
    "resolve",
    "run",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'bulk_tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
