"""HTTP for the senders: one request in, the vendor's answer out, failures told apart.

A sender hands its transport a method, a URL, headers and a body, and gets back a
:class:`Reply`. The run's transport is :class:`AiohttpTransport`, a pool of kept-alive
``aiohttp`` connections per key: httpx's own stack costs about three times its CPU per
request, and even httpx's request and response objects cost a fifth of a request's CPU
here. :class:`HttpxTransport` puts any httpx transport behind the same call, so unit tests
can answer with ``httpx.MockTransport``.

What matters most is how a failure is reported, because it decides whether a create may
be sent again. The errors are httpx's. An error before the connection was made means
nothing reached the vendor (``httpx.ConnectError``, ``httpx.ConnectTimeout``,
``httpx.PoolTimeout``); any later one means the request may have been applied
(``httpx.ReadTimeout``, ``httpx.RemoteProtocolError``, ``httpx.ReadError``), and the
scheduler reports such a create ``unknown``, never resent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Reply:
    """The vendor's answer: its status, its headers (names in any case) and its body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class Transport(Protocol):
    async def exchange(
        self, method: str, url: str, headers: Headers, body: bytes | None, timeout: float
    ) -> Reply:
        """Send one request and read its whole answer; ``timeout`` bounds each step."""

    async def aclose(self) -> None:
        """Close every connection."""


class AiohttpTransport:
    """Sends each request over a pool of at most ``connections`` kept-alive connections."""

    def __init__(self, *, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def exchange(
        self, method: str, url: str, headers: Headers, body: bytes | None, timeout: float
    ) -> Reply:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections)
            cookies = aiohttp.DummyCookieJar()  # the vendors' APIs set none worth keeping
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=cookies, skip_auto_headers=("User-Agent",)
            )
        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
            )
        with _mapped():
            async with self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=limits
            ) as answer:
                return Reply(answer.status, answer.headers, await answer.read())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxTransport:
    """Any httpx transport (``httpx.MockTransport`` in tests) behind :class:`Transport`."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def exchange(
        self, method: str, url: str, headers: Headers, body: bytes | None, timeout: float
    ) -> Reply:
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=body,
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
        )
        response = await self._transport.handle_async_request(request)
        content = await response.aread()
        return Reply(response.status_code, response.headers, content)

    async def aclose(self) -> None:
        await self._transport.aclose()


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """aiohttp's errors as httpx's, by whether the request may have reached the server."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:  # no connection in time: nothing sent
        raise httpx.ConnectTimeout(str(error) or "connecting timed out") from error
    except aiohttp.ClientConnectorError as error:  # refused, unknown host: nothing sent
        raise httpx.ConnectError(str(error)) from error
    except aiohttp.ServerTimeoutError as error:  # sent; no answer in time
        raise httpx.ReadTimeout(str(error) or "no answer in time") from error
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
        raise httpx.RemoteProtocolError(str(error)) from error
    except (aiohttp.ClientError, OSError) as error:  # anything else, once connected
        raise httpx.ReadError(str(error) or type(error).__name__) from error
