"""Where the deployment checks find their tools: .careplan/tools, filled by install-tools.sh.

A missing tool fails the test with the command that installs it; it never skips.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
TOOLS = Path(os.environ.get("CAREPLAN_TOOLS_DIR", ROOT / ".careplan" / "tools"))
INSTALL_HINT = "run deploy/checks/install-tools.sh (it installs every tool into .careplan/tools)"


def _eks_version() -> str:
    """The default of deploy/terraform's kubernetes_version, as a full version."""
    variables = (DEPLOY / "terraform" / "variables.tf").read_text(encoding="utf-8")
    found = re.search(
        r'variable "kubernetes_version" \{.*?default\s*=\s*"(\d+\.\d+)"', variables, re.S
    )
    assert found, "deploy/terraform/variables.tf has no kubernetes_version default"
    return f"{found.group(1)}.0"


# The Kubernetes version the manifests are validated against: that of deploy/terraform's EKS.
KUBERNETES_VERSION = _eks_version()


def tool(relative: str) -> Path:
    path = TOOLS / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: {INSTALL_HINT}", pytrace=False)
    return path


def kustomize() -> Path:
    return tool("bin/kustomize")


def tools_python() -> Path:
    """kubernetes-validate, python-hcl2 and jsonschema."""
    return tool("venv/bin/python")


def checkov() -> Path:
    return tool("checkov-venv/bin/checkov")


def docker_compose() -> Path:
    return tool("compose-venv/bin/docker-compose")


def strimzi_crds() -> Path:
    directory = tool("strimzi-crds")
    for name in (
        "040-Crd-kafka.yaml",
        "045-Crd-kafkanodepool.yaml",
        "043-Crd-kafkatopic.yaml",
        "044-Crd-kafkauser.yaml",
    ):
        tool(f"strimzi-crds/{name}")
    return directory


def run(
    args: list[str | Path],
    *,
    stdin: str | None = None,
    cwd: Path = ROOT,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**(os.environ if env is None else env), "NO_COLOR": "1"}
    return subprocess.run(
        [str(a) for a in args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
        check=False,
    )


def load_k8s_script(name: str) -> ModuleType:
    """deploy/k8s/<name>.py (a generator script, not a package), imported by path."""
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "k8s" / f"{name}.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
