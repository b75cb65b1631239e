"""``--notify URL``: one JSON document POSTed when a run ends (for ``run-folder``, when each
file's run does), so that an unattended run that fails is heard of without reading its log.

The document says the command, the vendor, the input and results files, the lines by
status, the exit code, how long it took, the command that carries it on, and a ``text``
that a Slack incoming webhook shows as it is. It never holds an API key nor a cell of the
input. Sending it is tried again briefly (a connection refused, a 5xx); one that cannot be
delivered is said on stderr, and never changes the run's exit code nor delays it more than
a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import stamina

from ..errors import OptionError
from .output import err, say

#: each POST's timeout, and how long a notification is tried at most (seconds)
TIMEOUT, MOST = 2.0, 5.0


class NotifyOn(StrEnum):
    """When to notify: ``failure`` (an exit code other than 0) or ``always``."""

    failure = "failure"
    always = "always"


@dataclass(frozen=True)
class Ended:
    """How one run ended, as a notification says it."""

    command: str
    vendor: str
    input: str
    exit_code: int
    results: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    #: the command that carries it on (None: nothing to carry on)
    resume: str | None = None
    #: why it could not start or was stopped
    error: str | None = None

    def document(self) -> dict[str, Any]:
        fields = {
            "command": self.command,
            "vendor": self.vendor,
            "input": self.input,
            "results": self.results,
            "counts": self.counts,
            "exit_code": self.exit_code,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "resume": self.resume,
            "error": self.error,
        }
        return {**fields, "text": self.text()}

    def text(self) -> str:
        """One readable message: what ran, how it ended, what to do."""
        ended = "ended" if self.exit_code == 0 else "needs a look"
        said = f"bulk-tasks {self.command} of {self.input} to {self.vendor} {ended} "
        said += f"(exit code {self.exit_code})"
        if self.counts:
            said += ": " + ", ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        if self.error:
            said += f": {self.error}"
        if self.results:
            said += f". Results: {self.results}"
        if self.resume:
            said += f". To carry on: {self.resume}"
        return said + "."


def check_urls(urls: list[str]) -> list[str]:
    """``urls``, each an http(s) URL; OptionError otherwise."""
    for url in urls:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            said = _host_of(url) if parts.hostname else url  # no host: nothing secret to hide
            raise OptionError(
                f'--notify "{said}": give an http:// or https:// URL, such as a Slack '
                "incoming webhook's"
            )
    return urls


def notify(urls: list[str], on: NotifyOn, ended: Ended) -> None:
    """``ended`` POSTed to each of ``urls``, when ``on`` says so."""
    if not urls or (on is NotifyOn.failure and ended.exit_code == 0):
        return
    document = ended.document()
    for url in urls:
        try:
            _post(url, document)
        except httpx.HTTPError as error:
            host = _host_of(url)
            said = f"could not notify {host} ({_why(error)}); the run's outcome is unchanged"
            say("notify", said, level="warning", to=err, url=host)


def _post(url: str, document: dict[str, Any]) -> None:
    for attempt in stamina.retry_context(
        on=_worth_again, attempts=3, timeout=MOST, wait_initial=0.2, wait_max=1.0
    ):
        with attempt:
            httpx.post(url, json=document, timeout=TIMEOUT).raise_for_status()


def _worth_again(error: BaseException) -> bool:
    """A receiver that was not reached, or that failed (5xx): worth trying again."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, httpx.TransportError)


def _why(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"it answered {error.response.status_code}"
    return type(error).__name__


def _host_of(url: str) -> str:
    """``url`` as a message shows it: its path and query, which often hold a webhook's
    secret, hidden."""
    parts = urlsplit(url)
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], hidden, "", ""))
