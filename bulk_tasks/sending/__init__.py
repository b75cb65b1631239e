"""Lines become requests, requests become answers, under each key's rate window.

:mod:`~bulk_tasks.sending.packing` gathers lines into requests,
:mod:`~bulk_tasks.sending.scheduler` hands them to the workers of their key's lane
(:mod:`~bulk_tasks.sending.lanes`), :mod:`~bulk_tasks.sending.sender` sends each under the
window (:mod:`~bulk_tasks.sending.window`, shared through :mod:`~bulk_tasks.sending.sharing`)
over :mod:`~bulk_tasks.sending.transport` (httpx). This package knows neither the command
line nor the run that uses it.
"""
