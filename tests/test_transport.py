"""The aiohttp transport hands back whole answers, and reports each failure by whether the
request may have been applied."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bulk_tasks.transport import AiohttpTransport, Reply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(connections=2)
    yield transport
    await transport.aclose()


async def post(transport: AiohttpTransport, url: str, *, timeout: float = 1.0) -> Reply:
    headers = [("Content-Type", "application/json")]
    return await transport.exchange("POST", url, headers, b'{"leadId":"lea_1"}', timeout)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


async def test_an_answer_comes_back_whole(transport: AiohttpTransport) -> None:
    bodies: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bodies.append(await read_request(reader))
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nRetry-After: 3\r\n"
            b"Content-Length: 24\r\n\r\n" + b'{"_id": "opp_x", "n": 1}'
        )
        await writer.drain()
        writer.close()

    server, url = await serve(answer)
    async with server:
        reply = await post(transport, url + "/api/tasks")
    assert reply.status == 201
    assert reply.content == b'{"_id": "opp_x", "n": 1}'
    assert reply.headers["retry-after"] == "3"
    assert reply.headers["Retry-After"] == "3"
    assert bodies == [b'{"leadId":"lea_1"}']


async def test_nothing_listening_is_a_connect_error(transport: AiohttpTransport) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await post(transport, f"http://127.0.0.1:{port}/api/tasks")


async def cut_after_the_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()  # the request arrived; no answer


async def cut_mid_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"_id":')
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("handler", [cut_after_the_request, cut_mid_answer])
async def test_a_cut_once_the_request_is_out_may_have_applied_it(
    transport: AiohttpTransport, handler: Handler
) -> None:
    server, url = await serve(handler)
    async with server:
        with pytest.raises(httpx.TransportError) as caught:
            await post(transport, url + "/api/tasks")
    # never "could not connect", which would let a create be sent again
    assert not isinstance(caught.value, (httpx.ConnectError, httpx.ConnectTimeout))


async def test_no_answer_in_time_is_a_read_timeout(transport: AiohttpTransport) -> None:
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    server, url = await serve(hang)
    async with server:
        with pytest.raises(httpx.ReadTimeout):
            await post(transport, url + "/api/tasks", timeout=0.3)
        release.set()
