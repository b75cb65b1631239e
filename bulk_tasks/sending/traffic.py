"""What a run's requests met at the vendor, counted as they go: a :class:`Traffic` per run,
shared by the senders of its keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Traffic:
    """A run's requests to the vendor, counted by its senders."""

    #: HTTP requests that left for the vendor: creates, updates and lookups, retries included
    #: (one that could not even connect is not counted: it never reached the vendor)
    requests: int = 0
    #: answers with HTTP 429 (the vendor's rate limit)
    rate_limited: int = 0
    #: attempts after a request's first (a 429, a 5xx, a request that got no answer)
    retries: int = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(
            requests=self.requests + other.requests,
            rate_limited=self.rate_limited + other.rate_limited,
            retries=self.retries + other.retries,
        )
