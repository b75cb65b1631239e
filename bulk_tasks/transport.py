"""HTTP for the senders: httpx's interface, aiohttp's connections.

The scheduler speaks httpx (and its unit tests use ``httpx.MockTransport``), but httpx's own
connection pool costs about a millisecond of CPU per request, three times aiohttp's. This
transport sends httpx's requests through an ``aiohttp`` session instead, one per key.

What matters most is how a failure is reported, because it decides whether a create may
be sent again. An error before the connection was made means nothing reached the vendor
(``httpx.ConnectError``, ``httpx.ConnectTimeout``, ``httpx.PoolTimeout``); any later one
means the request may have been applied (``httpx.ReadTimeout``, ``httpx.RemoteProtocolError``,
``httpx.ReadError``), and the scheduler reports such a create ``unknown``, never resent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
import httpx

#: headers of the answer that describe the bytes on the wire, not the body handed over
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends each request over a pool of at most ``connections`` kept-alive connections."""

    def __init__(self, *, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections)
            cookies = aiohttp.DummyCookieJar()  # the vendors' APIs set none worth keeping
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=cookies)
        timeout = request.extensions.get("timeout", {})
        with _mapped(request):
            async with self._session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=request.content or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                headers = [
                    (name, value)
                    for name, value in answer.headers.items()
                    if name.lower() not in _WIRE_HEADERS
                ]
        return httpx.Response(answer.status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """aiohttp's errors as httpx's, by whether the request may have reached the server."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:  # no connection in time: nothing sent
        raise httpx.ConnectTimeout(str(error) or "connecting timed out", request=request) from error
    except aiohttp.ClientConnectorError as error:  # refused, unknown host: nothing sent
        raise httpx.ConnectError(str(error), request=request) from error
    except aiohttp.ServerTimeoutError as error:  # sent; no answer in time
        raise httpx.ReadTimeout(str(error) or "no answer in time", request=request) from error
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
        raise httpx.RemoteProtocolError(str(error), request=request) from error
    except (aiohttp.ClientError, OSError) as error:  # anything else, once connected
        raise httpx.ReadError(str(error) or type(error).__name__, request=request) from error
