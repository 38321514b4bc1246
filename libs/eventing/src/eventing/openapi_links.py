"""OpenAPI links from each create operation to what it created.

A ``POST`` on a collection (``/patients``) answering 201 with an ``id`` creates the item the
path one segment below names (``/patients/{patientId}``); every operation on that item and
below it (``GET``/``PUT``/``DELETE``, ``/patients/{patientId}/bookings``...) gets a link whose
new path parameter is ``$response.body#/id`` and whose other path parameters are the
request's. A client (or a stateful test tool) then knows where ids come from.
"""

from __future__ import annotations

import re
from typing import Any

_METHODS = ("get", "put", "post", "delete", "patch")
_PARAMETER = re.compile(r"\{([^}]+)\}")


def _link_name(method: str, operation: dict[str, Any]) -> str:
    summary = operation.get("summary") or operation.get("operationId", method)
    return re.sub(r"[^A-Za-z0-9]+", "", summary.title()) or method


def add_create_links(document: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for collection, item in paths.items():
        create = item.get("post")
        if create is None or "201" not in create.get("responses", {}):
            continue
        inherited = _PARAMETER.findall(collection)
        links: dict[str, Any] = {}
        for path, target in paths.items():
            below = path[len(collection) :]
            match = re.match(r"^/\{([^}]+)\}(/|$)", below) if path.startswith(collection) else None
            if match is None:
                continue
            created = match.group(1)
            parameters = {name: f"$request.path.{name}" for name in inherited}
            parameters[created] = "$response.body#/id"
            for method in _METHODS:
                operation = target.get(method)
                if operation is None or "operationId" not in operation:
                    continue
                needed = set(_PARAMETER.findall(path))
                if not needed <= set(parameters):
                    continue  # needs an id this create does not give (a booking's, say)
                links[_link_name(method, operation)] = {
                    "operationId": operation["operationId"],
                    "parameters": {k: v for k, v in parameters.items() if k in needed},
                }
        if links:
            create["responses"]["201"]["links"] = links
    return document
