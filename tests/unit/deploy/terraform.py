"""deploy/terraform as data: its files parsed by python-hcl2 (deploy/checks/hcl_to_json.py), and
each call of a local module read as the resources it makes.

A local module (deploy/terraform/modules/<name>) declares its resources once in terms of
``var.*``; ``Call.resource`` substitutes the call's arguments into them, as Terraform would, so
a check reads a function's role or timeout in the same expressions as before the module existed
(``aws_sqs_queue.this[local.clinic_operations_queue].arn``). Only substitution: no evaluation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.unit.deploy.tools import DEPLOY, run, tools_python

TERRAFORM = DEPLOY / "terraform"
MODULES = TERRAFORM / "modules"
HCL_TO_JSON = DEPLOY / "checks" / "hcl_to_json.py"
# ``var.queue.arn`` -> the argument ``queue`` and the attribute path ``.arn``.
_VARIABLE = re.compile(r"\bvar\.(\w+)((?:\.\w+)*)")
# ``local.function_platform.kms_key_arn``: an attribute of an object written in a locals block.
_LOCAL_ATTRIBUTE = re.compile(r"\blocal\.(\w+)\.(\w+)\b")
# A resource of the module itself, e.g. ``aws_cloudwatch_log_group.this``.
_OWN_RESOURCE = re.compile(r"(?<![\w.])((?:data\.)?[a-z]+_\w+\.\w+)")


def unquote(node: Any) -> Any:
    """python-hcl2 keeps the quotes of keys and strings: drop them for readable lookups."""
    if isinstance(node, dict):
        return {
            unquote(k): unquote(v)
            for k, v in node.items()
            if k not in {"__is_block__", "__comments__"}
        }
    if isinstance(node, list):
        return [unquote(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


@cache
def parsed_folder(folder: Path) -> dict[str, Any]:
    """Every *.tf file of ``folder``, by file name."""
    result = run([tools_python(), HCL_TO_JSON, folder])
    assert result.returncode == 0, f"terraform files do not parse:\n{result.stderr}"
    document: dict[str, Any] = unquote(json.loads(result.stdout))
    return document


def parsed() -> dict[str, Any]:
    return parsed_folder(TERRAFORM)


def blocks(kind: str, folder: Path = TERRAFORM) -> dict[str, Any]:
    """All blocks of one kind (variable, module, locals, output) over every file, by label."""
    found: dict[str, Any] = {}
    for document in parsed_folder(folder).values():
        for block in document.get(kind, []):
            found.update(block)
    return found


def resources(resource_type: str, folder: Path = TERRAFORM) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in parsed_folder(folder).values():
        for block in document.get("resource", []) + document.get("data", []):
            found.update(block.get(resource_type, {}))
    return found


def locals_(folder: Path = TERRAFORM) -> dict[str, Any]:
    return blocks("locals", folder)


def source_text(folder: Path = TERRAFORM) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.tf")))


def local_modules() -> dict[str, Path]:
    """The folders of deploy/terraform/modules, by name."""
    return {path.name: path for path in sorted(MODULES.iterdir()) if path.is_dir()}


@dataclass(frozen=True)
class Call:
    """One ``module`` block of the root that calls a local module."""

    label: str
    arguments: dict[str, Any]

    @property
    def folder(self) -> Path:
        return (TERRAFORM / self.arguments["source"]).resolve()

    def resource(self, resource_type: str, name: str = "this") -> Any:
        """The module's resource (or data source) as this call makes it."""
        return self.instantiate(resources(resource_type, self.folder)[name])

    def instantiate(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {key: self.instantiate(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.instantiate(value) for value in node]
        if not isinstance(node, str):
            return node
        whole = _VARIABLE.fullmatch(node.removeprefix("${").removesuffix("}"))
        if node.startswith("${") and whole and not whole.group(2):
            # A whole argument (a list, a map, an object expression): handed over as given.
            return self.arguments[whole.group(1)]
        text = _OWN_RESOURCE.sub(rf"module.{self.label}.\1", node)
        text = re.sub(r"\$\{(var\.\w+)\}", self._literal, text)
        text = _VARIABLE.sub(self._expression, text)
        return _LOCAL_ATTRIBUTE.sub(_local_attribute, text)

    def _literal(self, match: re.Match[str]) -> str:
        """``"${var.package}.handler"`` with ``package = "x"`` -> ``"x.handler"``."""
        value = self.arguments[match.group(1).removeprefix("var.")]
        return value if _is_literal(value) else match.group(0)

    def _expression(self, match: re.Match[str]) -> str:
        """``var.queue.arn`` with ``queue = aws_sqs_queue.this[k]`` -> that queue's ``.arn``; an
        argument written out in the call (a map, a list) stays ``var.<name>``: read it from
        ``arguments``."""
        value = self.arguments[match.group(1)]
        if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
            return value[2:-1] + match.group(2)
        return match.group(0)


def _is_literal(value: Any) -> bool:
    return isinstance(value, str) and "${" not in value


def _local_attribute(match: re.Match[str]) -> str:
    """An attribute of an object local is the expression written for it."""
    local = locals_().get(match.group(1))
    if not isinstance(local, dict):
        return match.group(0)
    value = local[match.group(2)]
    assert isinstance(value, str), value
    assert value.startswith("${"), value
    assert value.endswith("}"), value
    return str(value[2:-1])


def calls(module: str) -> dict[str, Call]:
    """The root's calls of ``deploy/terraform/modules/<module>``, by label."""
    return {
        label: Call(label, arguments)
        for label, arguments in blocks("module").items()
        if arguments["source"] == f"./modules/{module}"
    }


def functions() -> dict[str, Call]:
    """The Lambda functions behind the bus (modules/queue_function), by Python package."""
    return {call.arguments["package"]: call for call in calls("queue_function").values()}
