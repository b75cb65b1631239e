"""The ``bulk-tasks`` command: the only package that knows typer and rich.

:mod:`~bulk_tasks.cli.launch` is the entry point, :mod:`~bulk_tasks.cli.commands` the typer
app, :mod:`~bulk_tasks.cli.options` every option declared once, :mod:`~bulk_tasks.cli.output`
and :mod:`~bulk_tasks.cli.progress` what the terminal shows, :mod:`~bulk_tasks.cli.jobfile`
the job files, :mod:`~bulk_tasks.cli.inbox` ``run-folder``.
"""
