"""Turn a spreadsheet of sales tasks into real tasks, under the vendor's rate limit.

The library surface: :func:`validate`, :func:`run` and :func:`resolve` take a
:class:`Settings` (and, to send, a key or :class:`Keys`) and return the run's
:class:`Summary`; :func:`reconcile` settles the lines of several results files. The
``bulk-tasks`` command is a thin layer over them.

The names are imported on first use, so that ``bulk-tasks --help`` and the entry point
stay quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .job import Summary, resolve, run, validate
    from .keys import Keys
    from .results.reconcile import reconcile
    from .settings import Settings

#: each public name, and the module it comes from
_PUBLIC = {
    "run": "bulk_tasks.job.batch",
    "validate": "bulk_tasks.job.batch",
    "resolve": "bulk_tasks.job.batch",
    "Summary": "bulk_tasks.job.batch",
    "Settings": "bulk_tasks.settings",
    "Keys": "bulk_tasks.keys",
    "reconcile": "bulk_tasks.results.reconcile",
}

__all__ = [
    "Keys",
    "Settings",
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
