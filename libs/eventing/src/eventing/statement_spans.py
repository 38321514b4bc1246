"""A statement pays asyncpg's instrumentation only under a span that records.

OpenTelemetry's maintained asyncpg instrumentation wraps ``asyncpg.Connection``'s query methods
for the whole process. Its wrapper runs for every statement and asks the context whether
instrumentation is suppressed: ~12 us of CPU a statement on the 2-core machine ('select 1'
69 us without it, 81 us with it suppressed), paid by the statements of the nine units of work in
ten a 10 % sampler drops, and of every transaction's BEGIN and COMMIT, all recording nothing.
That was most of what tracing cost a booking it did not sample (README, What tracing costs).

So the services' connections are ``QuietConnection``s, whose query methods are asyncpg's own;
a unit of work under a span that records lends its connection asyncpg's (instrumented) class
for the statements inside it (``statements_follow_span``), and takes it back before its
transaction commits. The statements of a sampled trace are recorded as before, by the
maintained instrumentation; with it off, the two classes' methods are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from telemetry.tracing import instrumentation_records

if TYPE_CHECKING:
    from eventing.database import Connection


def _as_asyncpg_defines(name: str) -> Callable[..., Any]:
    """asyncpg's own method, whether or not an instrumentation has wrapped it yet (wrapt's
    wrapper keeps the function it wraps as ``__wrapped__``)."""
    method = vars(asyncpg.Connection)[name]
    return getattr(method, "__wrapped__", method)  # type: ignore[no-any-return]


class QuietConnection(asyncpg.Connection):
    """An asyncpg connection whose statements no instrumentation sees. It adds no state, so
    a connection can take asyncpg's class and this one in turn (``statements_follow_span``)."""

    __slots__ = ()

    # The methods opentelemetry-instrumentation-asyncpg wraps on asyncpg.Connection.
    execute = _as_asyncpg_defines("execute")
    executemany = _as_asyncpg_defines("executemany")
    fetch = _as_asyncpg_defines("fetch")
    fetchval = _as_asyncpg_defines("fetchval")
    fetchrow = _as_asyncpg_defines("fetchrow")


@contextmanager
def statements_follow_span(connection: Connection) -> Iterator[None]:
    """Inside the block the connection's statements go through the instrumentation if the
    span current on entry records; a ``QuietConnection`` otherwise stays quiet. A pooled
    connection is used by one task at a time, so its class is that task's to change."""
    # The pool's proxy holds its connection as _con (asyncpg has no public accessor).
    raw = connection._con if isinstance(connection, PoolConnectionProxy) else connection  # type: ignore[attr-defined]
    if type(raw) is not QuietConnection or not instrumentation_records():
        yield
        return
    _become(raw, asyncpg.Connection)
    try:
        yield
    finally:
        _become(raw, QuietConnection)


def _become(connection: asyncpg.Connection[Any], kind: type[asyncpg.Connection[Any]]) -> None:
    connection.__class__ = kind
