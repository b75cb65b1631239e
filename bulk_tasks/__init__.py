"""Turn a spreadsheet of sales tasks into real tasks, under the vendor's rate limit.

The library surface: :func:`bulk_tasks.job.run` and :func:`bulk_tasks.job.validate` take a
:class:`bulk_tasks.job.Settings`; the ``bulk-tasks`` command is a thin layer over them.
"""

__version__ = "0.1.0"
