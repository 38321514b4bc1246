"""405 with an ``Allow`` header that lists every method of the path (RFC 9110 section 15.5.6).

FastAPI declares one route per method, and Starlette answers a method it has no route for with
the ``Allow`` of the first route whose path matched: ``GET /providers`` and ``POST /providers``
then answer an ``OPTIONS`` with ``Allow: POST``. The handler here collects the methods of every
route that matches the path.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match

from eventing.problems import problem_response


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        # Asked with one of its own methods, a route whose path matches answers FULL.
        match, _ = route.matches({**request.scope, "method": next(iter(route_methods))})
        if match == Match.FULL:
            methods.update(route_methods)
    return sorted(methods)


async def _method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    allowed = allowed_methods(request)
    return problem_response(
        request.url.path,
        405,
        f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


def install_method_not_allowed(app: FastAPI) -> None:
    app.add_exception_handler(405, _method_not_allowed)
