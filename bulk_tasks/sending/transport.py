"""The one HTTP client, and what a failed exchange means for the request it carried.

Each API key gets its own :class:`httpx.AsyncClient` (:func:`open_client`): its own pool of
kept-alive connections, as many as the key's workers. :func:`exchange` sends one request
and returns httpx's own :class:`httpx.Response`, read whole.

What matters most is how a failure is reported, because it decides whether a create may be
sent again. httpx's many exceptions come down to two, mapped here and nowhere else::

    ExchangeFailed          no whole answer came back
    ├── NothingSent         the request never reached the vendor: sending it again is safe
    │                       (could not connect, connecting timed out, no connection free)
    └── MaybeApplied        the request left, and no whole answer came back: the vendor may
                            have applied it (no answer in time, the connection cut mid-answer)

The :class:`~bulk_tasks.sending.sender.Sender` sends a :class:`NothingSent` request again; a
create that ended in :class:`MaybeApplied` is never sent again (it ends ``unknown``, and is
looked up), an update may be.
"""

from __future__ import annotations

import httpx

#: httpx's errors raised before any byte of the request could reach the vendor
_BEFORE_SENDING: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
#: what each error means, in words a person reads in the results file
_SAID: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "connecting timed out"),
    (httpx.ConnectError, "could not connect"),
    (httpx.PoolTimeout, "no connection was free in time"),
    (httpx.ReadTimeout, "no answer came back within the timeout (--timeout)"),
    (httpx.WriteTimeout, "sending the request timed out"),
    (httpx.RemoteProtocolError, "the connection closed before a whole answer came back"),
)


class ExchangeFailed(Exception):
    """No whole answer came back; ``str()`` says what happened, for the results file."""


class NothingSent(ExchangeFailed):
    """The request never reached the vendor: sending it again cannot make a second task."""


class MaybeApplied(ExchangeFailed):
    """The request left and no whole answer came back: the vendor may have applied it."""


def open_client(
    *, connections: int, timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client with a pool of at most ``connections`` kept-alive connections; ``timeout``
    bounds each step (connecting, sending, waiting for the answer). ``transport`` replaces
    the network (``httpx.MockTransport`` in tests).

    Proxies from the environment are not used (``--base-url`` names a proxy), redirects are
    not followed (a vendor's API answers where it is asked), and no cookie is kept."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        transport=transport,
    )


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    *,
    headers: httpx.Headers,
    body: bytes,
) -> httpx.Response:
    """Send one request and read its whole answer, or raise :class:`NothingSent` or
    :class:`MaybeApplied`."""
    try:
        response = await client.send(
            httpx.Request(method, url, headers=headers, content=body), stream=False
        )
    except httpx.TransportError as error:
        kind = NothingSent if isinstance(error, _BEFORE_SENDING) else MaybeApplied
        raise kind(describe(error)) from error
    return response


def describe(error: httpx.TransportError) -> str:
    """What went wrong, with the library's own detail in brackets."""
    what = next((said for kind, said in _SAID if isinstance(error, kind)), "the connection failed")
    detail = str(error).strip()
    return f"{what} ({detail})" if detail else what
