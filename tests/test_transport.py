"""The client hands back whole answers, and reports each failure by whether the request may
have been applied: against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bulk_tasks.sending.transport import MaybeApplied, NothingSent, exchange, open_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(connections=2, timeout=1.0) as client:
        yield client


async def post(client: httpx.AsyncClient, url: str) -> httpx.Response:
    headers = httpx.Headers({"Content-Type": "application/json"})
    return await exchange(
        client, "POST", httpx.URL(url), headers=headers, body=b'{"leadId":"lea_1"}'
    )


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


async def test_an_answer_comes_back_whole(client: httpx.AsyncClient) -> None:
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
        reply = await post(client, url + "/api/tasks")
    assert reply.status_code == 201
    assert reply.content == b'{"_id": "opp_x", "n": 1}'
    assert reply.headers["retry-after"] == "3"
    assert reply.headers["Retry-After"] == "3"
    assert bodies == [b'{"leadId":"lea_1"}']


async def test_nothing_listening_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NothingSent, match=r"^could not connect \("):
        await post(client, f"http://127.0.0.1:{port}/api/tasks")


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
    client: httpx.AsyncClient, handler: Handler
) -> None:
    server, url = await serve(handler)
    async with server:
        # never "nothing sent", which would let a create be sent again
        with pytest.raises(MaybeApplied, match="before a whole answer came back"):
            await post(client, url + "/api/tasks")


async def test_no_answer_in_time_is_a_read_timeout(client: httpx.AsyncClient) -> None:
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    server, url = await serve(hang)
    async with server:
        with pytest.raises(MaybeApplied, match=r"^no answer came back within the timeout"):
            await post(client, url + "/api/tasks")
        release.set()


@pytest.mark.parametrize(
    ("error", "kind", "said"),
    [
        (httpx.ConnectError, NothingSent, "could not connect (boom)"),
        (httpx.ConnectTimeout, NothingSent, "connecting timed out (boom)"),
        (httpx.PoolTimeout, NothingSent, "no connection was free in time (boom)"),
        (
            httpx.ReadTimeout,
            MaybeApplied,
            "no answer came back within the timeout (--timeout) (boom)",
        ),
        (httpx.WriteTimeout, MaybeApplied, "sending the request timed out (boom)"),
        (httpx.ReadError, MaybeApplied, "the connection failed (boom)"),
        (
            httpx.RemoteProtocolError,
            MaybeApplied,
            "the connection closed before a whole answer came back (boom)",
        ),
    ],
)
async def test_every_failure_is_one_of_two_words(
    error: type[httpx.TransportError], kind: type[Exception], said: str
) -> None:
    async def fail(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    async with open_client(connections=1, timeout=1, transport=httpx.MockTransport(fail)) as mock:
        with pytest.raises(kind) as caught:
            await post(mock, "http://vendor.test/api/tasks")
    assert str(caught.value) == said
