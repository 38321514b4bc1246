"""Validates rendered Kubernetes objects offline; runs in .careplan/tools/venv.

    validate_k8s.py --k8s-version 1.33.0 --crds DIR --extra-schemas FILE [--extra-schemas FILE]

Built-in kinds are checked by kubernetes-validate (strict: unknown fields fail) against the
bundled schemas of that Kubernetes version; Strimzi kinds against the openAPIV3Schema of their
CRD (from install-tools.sh), made strict the way `kubectl apply --validate=strict` treats a CRD;
External Secrets and KEDA kinds against the schema subsets in deploy/k8s/crds/ (one file per
API, ``--extra-schemas`` for each). A kind none of
these knows is an error, never a silent pass. Prints one JSON line per object.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

# API groups checked against a hand-written schema subset instead of a full CRD.
SUBSET_GROUPS = {"external-secrets.io", "keda.sh"}


def strict(schema: Any) -> Any:
    """Forbids properties a structural schema does not declare (the API server would prune them)."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def crd_schemas(directory: Path) -> dict[tuple[str, str], Any]:
    schemas: dict[tuple[str, str], Any] = {}
    for path in sorted(directory.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                schemas[(f"{group}/{version['name']}", kind)] = strict(schema)
    return schemas


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k8s-version", required=True)
    parser.add_argument("--crds", type=Path, required=True)
    parser.add_argument("--extra-schemas", type=Path, action="append", required=True)
    args = parser.parse_args()

    custom = crd_schemas(args.crds)
    extra: dict[str, Any] = {}
    for path in args.extra_schemas:
        extra |= yaml.safe_load(path.read_text(encoding="utf-8"))
    failures = 0
    for document in yaml.safe_load_all(sys.stdin):
        if not document:
            continue
        api_version, kind = document.get("apiVersion", ""), document.get("kind", "")
        name = (document.get("metadata") or {}).get("name", "")
        errors: list[str] = []
        validator = "kubernetes-validate"
        if (api_version, kind) in custom:
            validator = "crd"
            schema = custom[(api_version, kind)]
            errors = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(document)
            ]
        elif api_version.split("/")[0] in SUBSET_GROUPS:
            validator = f"{api_version.split('/')[0].split('.')[0]}-subset"
            if kind not in extra:
                errors = [f"no schema for {api_version} {kind}"]
            else:
                errors = [
                    f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in jsonschema.Draft7Validator(extra[kind]).iter_errors(document)
                ]
        else:
            try:
                kubernetes_validate.validate(document, args.k8s_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors = [f"{'/'.join(map(str, error.path))}: {error.message}"]
            except kubernetes_validate.SchemaNotFoundError as error:
                errors = [f"no schema: {error}"]
            except kubernetes_validate.InvalidSchemaError as error:
                errors = [f"invalid schema: {error}"]
        failures += bool(errors)
        line = {"apiVersion": api_version, "kind": kind, "name": name}
        print(json.dumps(line | {"validator": validator, "errors": errors}))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
