"""The API documents (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served by the service itself.

FastAPI's pages load Swagger UI from a public CDN: without internet the page is blank, and a
third-party script would run on the origin where people paste their API keys. The assets come
from the ``fastapi-offline`` package instead (Swagger UI and ReDoc bundled in the wheel, kept
current by its maintainers), served under ``/docs/static``, and the pages carry a
Content-Security-Policy that allows scripts from this origin only (plus the one inline script
each page needs, by its hash), so no request leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_STATIC_URL = "/docs/static"
DOCS_PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def documented_app(**options: Any) -> FastAPI:
    """A FastAPI application whose documentation pages use the bundled assets."""
    # FastAPI's own telemetry off: the platform's server spans come from the maintained
    # instrumentation behind a sampling edge (telemetry.instrument), and left on, FastAPI
    # looked for global tracer, meter and logger providers on every request (~1 % of Care
    # Plan's event loop at 100 bookings/s) to find none.
    off = {"tracing": False, "metrics": False, "logs": False}
    return FastAPIOffline(static_url=DOCS_STATIC_URL, telemetry=off, **options)


def content_security_policy(page: bytes) -> str:
    """The policy of one docs page: its own inline scripts allowed by hash, nothing foreign.
    Styles may be inline (Swagger UI and ReDoc set style attributes); ReDoc searches in a
    worker it builds from a blob."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class DocsSecurityHeaders:
    """ASGI middleware: the Content-Security-Policy on the docs pages (computed from the page
    as sent, so that it matches whatever FastAPI renders) and ``nosniff`` on their assets."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(DOCS_STATIC_URL):
            nosniff = [(b"x-content-type-options", b"nosniff")]
            await self._app(scope, receive, _with_headers(send, nosniff))
            return
        if path not in DOCS_PAGES:
            await self._app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def buffer(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            body += message.get("body", b"")
            if message.get("more_body"):
                return
            assert start is not None
            headers = [
                (name, value)
                for name, value in start["headers"]
                if name.lower() not in (b"content-length", b"content-security-policy")
            ]
            headers += [
                (b"content-security-policy", content_security_policy(body).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self._app(scope, receive, buffer)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], *extra]}
        await send(message)

    return sending
