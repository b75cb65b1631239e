"""A file becomes rows of text, and rows become lines: what each asks of the vendor.

:mod:`~bulk_tasks.rows.inputs` reads CSV and XLSX as rows of text cells,
:mod:`~bulk_tasks.rows.columns` matches the headers to the action's fields,
:mod:`~bulk_tasks.rows.cells` and :mod:`~bulk_tasks.rows.date_orders` read cells as values,
and :mod:`~bulk_tasks.rows.rules` makes each row one or more lines. Nothing here sends.
"""
