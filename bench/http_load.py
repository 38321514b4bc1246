"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections, raw asyncio.

The platform and its load generator share two cores, so the generator must cost little: no
client library, requests formatted once per call, responses parsed only as far as status,
``Content-Length`` and (when asked) the body. Its own CPU is measured by the caller
(``resource.getrusage``) and printed beside the figures.

Two ways to drive load:
- ``open_loop``: requests start at a fixed rate whatever the answers do (latency under a
  given offered load, the way real patients arrive);
- ``closed_loop``: N connections each send their next request when the previous answered
  (what ``wrk`` does; it finds the saturation point and overload behaviour).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    started: float  # time.monotonic() when the request was sent
    finished: float


@dataclass(slots=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0 or self._waiter is None:
            return
        head = bytes(self._buffer[:head_end]).split(b"\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return
        status = int(head[0].split(b" ", 2)[1])
        body = bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        waiter, self._waiter = self._waiter, None
        waiter.set_result((status, body))

    async def send(self, payload: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self._waiter


class Client:
    """A pool of keep-alive connections to one host."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self._host, self._port)
        self._all.append(connection)
        return connection

    async def request(self, request: Request) -> Response:
        connection = await self._connection()
        started = time.monotonic()
        try:
            status, body = await connection.send(request.encode(f"{self._host}:{self._port}"))
        except ConnectionError:
            return Response(0, b"", started, time.monotonic())
        self._idle.append(connection)
        return Response(status, body, started, time.monotonic())

    def close(self) -> None:
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()


async def open_loop(
    clients: Sequence[Client], requests: Iterator[Request], *, rate: float, seconds: float
) -> list[Response]:
    """Start ``rate`` requests a second for ``seconds``, each on time whatever came back,
    spread round-robin over ``clients`` (one per replica)."""
    total = int(rate * seconds)
    start = time.monotonic()
    pending: list[asyncio.Task[Response]] = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        client = clients[index % len(clients)]
        pending.append(asyncio.ensure_future(client.request(next(requests))))
    return list(await asyncio.gather(*pending))


async def closed_loop(
    client_factory: Callable[[], Client],
    requests: Iterator[Request],
    *,
    connections: int,
    seconds: float,
    retry_refused_after: float | None = None,
) -> list[Response]:
    """``connections`` clients, each sending its next request when the last one answered.

    :param retry_refused_after: send a request answered 429 again after this many seconds,
        as a well-behaved client does, until it is answered otherwise (the benchmark's setup
        needs every slot, whatever admission control says while it makes them)."""
    deadline = time.monotonic() + seconds
    responses: list[Response] = []

    async def worker() -> None:
        client = client_factory()
        try:
            while time.monotonic() < deadline:
                try:
                    request = next(requests)
                except StopIteration:
                    return
                response = await client.request(request)
                while response.status == 429 and retry_refused_after is not None:
                    await asyncio.sleep(retry_refused_after)
                    response = await client.request(request)
                responses.append(response)
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return responses
