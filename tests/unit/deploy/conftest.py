from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.unit.deploy.tools import DEPLOY, kustomize, run

OVERLAYS = {
    "base": DEPLOY / "k8s" / "base",
    "eks": DEPLOY / "k8s" / "overlays" / "eks",
    "eks-msk": DEPLOY / "k8s" / "overlays" / "eks-msk",
}


class Rendered:
    """One `kustomize build` of a base or overlay: its text and its objects."""

    def __init__(self, name: str, path: Path, text: str) -> None:
        self.name = name
        self.path = path
        self.text = text
        self.objects: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind}/{name}, found {len(found)}"
        return found[0]


_cache: dict[str, Rendered] = {}


def render(name: str) -> Rendered:
    if name not in _cache:
        result = run([kustomize(), "build", OVERLAYS[name]])
        assert result.returncode == 0, f"kustomize build {OVERLAYS[name]} failed:\n{result.stderr}"
        _cache[name] = Rendered(name, OVERLAYS[name], result.stdout)
    return _cache[name]


@pytest.fixture(params=sorted(OVERLAYS))
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """Each of the base and the two EKS overlays, rendered once per session."""
    return render(request.param)


@pytest.fixture(params=["base", "eks"])
def with_strimzi(request: pytest.FixtureRequest) -> Rendered:
    """The renderings whose Kafka is run by Strimzi."""
    return render(request.param)


@pytest.fixture(params=["eks", "eks-msk"])
def cloud(request: pytest.FixtureRequest) -> Rendered:
    """The renderings for Amazon EKS."""
    return render(request.param)


@pytest.fixture
def msk() -> Rendered:
    return render("eks-msk")


@pytest.fixture
def base() -> Rendered:
    return render("base")


@pytest.fixture
def eks() -> Rendered:
    return render("eks")


@pytest.fixture(scope="session")
def lambda_packages() -> Path:
    """The functions' folders as `make lambda-packages` leaves them for Terraform's zips."""
    built = run(["bash", DEPLOY / "lambda_packages.sh"], timeout=600)
    assert built.returncode == 0, built.stderr
    return DEPLOY / "terraform" / ".build" / "functions"
