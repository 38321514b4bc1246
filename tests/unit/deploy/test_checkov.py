"""checkov over the Dockerfile, the rendered Kubernetes manifests and Terraform: nothing fails,
and every skipped check is one we decided on, with its reason written next to it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.conftest import render
from tests.unit.deploy.tools import DEPLOY, ROOT, checkov, run

# Every suppression in the repository, by framework: a new one must be added here on purpose
# (its reason sits in a `checkov:skip=ID:reason` comment or a `checkov.io/skipN` annotation).
ALLOWED_SKIPS = {
    "dockerfile": set(),
    "kubernetes": {
        "CKV_K8S_43",  # images by immutable release tag, not digest
        "CKV_K8S_35",  # DATABASE_URL/API_KEY read from the environment by pydantic-settings
    },
    "terraform": {
        "CKV_TF_1",  # registry modules pinned by exact version, not git commit
        "CKV_AWS_109",  # KMS key policy: account root administration statement
        "CKV_AWS_111",
        "CKV_AWS_356",
        "CKV_AWS_116",  # Lambda DLQ: SQS event source has its own redrive DLQ
        "CKV_AWS_272",  # Lambda code signing
        "CKV2_AWS_57",  # rotation of the connection-info and API-key secrets
        "CKV2_AWS_16",  # DynamoDB auto scaling on an on-demand table
    },
}


def scan(target: Path, framework: str) -> dict[str, Any]:
    """:param target: a folder (every file of the framework in it) or one file."""
    # --skip-download: offline, no guideline download from the vendor's platform.
    result = run(
        [
            checkov(),
            "-f" if target.is_file() else "-d",
            target,
            "--framework",
            framework,
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (found,) = [r for r in reports if r["check_type"] == framework]
    summary: dict[str, Any] = found
    return summary


@cache
def kubernetes_dir(tmp: str) -> Path:
    directory = Path(tmp)
    for name in ("base", "eks", "eks-msk"):
        (directory / f"{name}.yaml").write_text(render(name).text, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    rendered = kubernetes_dir(str(tmp_path_factory.mktemp("rendered")))
    return {
        "dockerfile": scan(ROOT / "Dockerfile", "dockerfile"),
        "kubernetes": scan(rendered, "kubernetes"),
        "terraform": scan(DEPLOY / "terraform", "terraform"),
    }


def describe(failed: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}" for c in failed
    )


@pytest.mark.parametrize("framework", sorted(ALLOWED_SKIPS))
def test_checkov_finds_no_failed_check(reports: dict[str, dict[str, Any]], framework: str) -> None:
    report = reports[framework]
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, summary
    assert summary["failed"] == 0, describe(report["results"]["failed_checks"])
    assert summary["passed"] >= 100, f"suspiciously few checks ran: {summary}"


@pytest.mark.parametrize("framework", sorted(ALLOWED_SKIPS))
def test_every_skipped_check_is_allowed_and_explained(
    reports: dict[str, dict[str, Any]], framework: str
) -> None:
    skipped = reports[framework]["results"]["skipped_checks"]
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert check["check_id"] in ALLOWED_SKIPS[framework], f"unexpected skip {check['check_id']}"
        assert len(reason) >= 30, f"{check['check_id']} on {check['resource']} has no real reason"
    assert {c["check_id"] for c in skipped} == ALLOWED_SKIPS[framework], (
        "stale entry in ALLOWED_SKIPS"
    )


def test_checkov_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:latest\nRUN pip install flask\nCMD python app.py\n"
    )
    report = scan(tmp_path, "dockerfile")
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7"} <= failed
