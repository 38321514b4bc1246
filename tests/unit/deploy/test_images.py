"""The one Dockerfile, docker-bake.hcl and `make images` / `make push`, checked without an engine.

No Docker engine runs here (nor in CI), so `docker buildx bake --print` is not available: the bake
file is parsed with python-hcl2 and its targets are held against the deployables the launcher
declares, the Dockerfile's stages and ARGs, compose and Terraform's ECR repositories. The make
targets run for real against a stand-in `docker` that records what it was asked.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from devstack import catalog
from devstack.settings import DevstackSettings
from tests.unit.deploy.terraform import HCL_TO_JSON, locals_, unquote
from tests.unit.deploy.test_compose import resolved as compose
from tests.unit.deploy.tools import DEPLOY, ROOT, run, tools_python

BAKE = ROOT / "docker-bake.hcl"
DOCKERFILE = ROOT / "Dockerfile"

# Bake target -> (Dockerfile stage, the module `python -m` runs or None for the local Lambdas).
SERVICES = {
    component.name: list(component.command(DevstackSettings()))[-1]
    for component in catalog.SERVICES
    if component not in (catalog.CLINIC_OPERATIONS, catalog.PATIENT_NOTIFICATIONS)
}
LOCAL_LAMBDAS = {
    f"{catalog.CLINIC_OPERATIONS.name}-local": catalog.LAMBDA_HANDLER.split(".")[0],
    f"{catalog.PATIENT_NOTIFICATIONS.name}-local": catalog.NOTIFICATIONS_HANDLER.split(".")[0],
}


@cache
def bake() -> dict[str, Any]:
    result = run([tools_python(), HCL_TO_JSON, BAKE])
    assert result.returncode == 0, f"docker-bake.hcl does not parse:\n{result.stderr}"
    document: dict[str, Any] = unquote(json.loads(result.stdout))[BAKE.name]
    return document


def blocks(kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in bake().get(kind, []):
        found.update(block)
    return found


def resolved_target(name: str) -> dict[str, Any]:
    """A target with what it inherits, as bake merges it (the target's own keys win)."""
    target = dict(blocks("target")[name])
    merged: dict[str, Any] = {}
    for parent in target.pop("inherits", []):
        merged.update(resolved_target(parent))
    args = {**merged.get("args", {}), **target.get("args", {})}
    return {**merged, **target, "args": args}


def concrete_targets() -> set[str]:
    return {name for name in blocks("target") if not name.startswith("_")}


def group(name: str) -> set[str]:
    """The targets a group builds, nested groups expanded."""
    members: set[str] = set()
    for member in blocks("group")[name]["targets"]:
        members |= group(member) if member in blocks("group") else {member}
    return members


def package_name(module: str) -> str:
    manifest = ROOT / "services" / module / "pyproject.toml"
    name: str = tomllib.loads(manifest.read_text(encoding="utf-8"))["project"]["name"]
    return name


def stages() -> dict[str, str]:
    """Stage name -> the Dockerfile's text of that stage."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    parts = re.split(r"^FROM \S+ AS ([\w-]+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def declared_args(stage: str) -> dict[str, str | None]:
    """ARG name -> its default (None when the build must give it)."""
    found = re.findall(r"^ARG (\w+)(?:=(.*))?$", stages()[stage], flags=re.MULTILINE)
    return {name: (default if default != "" else None) for name, default in found}


# --- the bake file -------------------------------------------------------------------------


def test_every_deployable_has_exactly_one_target() -> None:
    assert concrete_targets() == set(SERVICES) | set(LOCAL_LAMBDAS)
    assert group("default") == concrete_targets()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_target_builds_its_package_and_runs_its_module(name: str) -> None:
    target = resolved_target(name)
    module = SERVICES[name]
    component = next(c for c in catalog.SERVICES if c.name == name)
    assert target["dockerfile"] == "Dockerfile"
    assert target["context"] == "."
    assert target["target"] == "runtime"
    assert target["args"]["PACKAGES"] == package_name(module)
    assert target["args"]["APP_MODULE"] == module
    assert target["args"]["HTTP_PORT"] == component.environment(DevstackSettings())["HTTP_PORT"]


@pytest.mark.parametrize("name", sorted(LOCAL_LAMBDAS))
def test_a_local_lambda_target_builds_its_handler_with_the_runner(name: str) -> None:
    target = resolved_target(name)
    assert target["target"] == "lambda-local"
    assert target["args"]["PACKAGES"].split() == [package_name(LOCAL_LAMBDAS[name]), "devstack"]


def test_every_target_gives_only_arguments_its_stages_declare_and_all_they_need() -> None:
    for name in concrete_targets():
        target = resolved_target(name)
        declared = declared_args("builder") | declared_args(target["target"])
        assert set(target["args"]) <= set(declared), (
            f"{name}: {set(target['args']) - set(declared)}"
        )
        needed = {arg for arg, default in declared.items() if default is None}
        needed -= {"STATE_DIR"}  # empty on purpose: only the Insurance Processor writes a folder
        assert needed <= set(target["args"]), f"{name} lacks {needed - set(target['args'])}"


def test_the_insurance_processor_gets_the_state_folder_kubernetes_mounts() -> None:
    target = resolved_target(catalog.INSURANCE_PROCESSOR.name)
    assert target["args"]["STATE_DIR"] == "/var/lib/insurance-processor"


def test_the_pushed_group_is_the_ecr_repositories_and_tags_follow_the_release() -> None:
    assert group("services") == set(SERVICES) == set(locals_()["service_images"])
    kustomization = (DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"newTag: (\S+)", kustomization)) == {
        blocks("variable")["TAG"]["default"]
    }
    for name in concrete_targets():
        assert resolved_target(name)["tags"] == [f"${{REGISTRY}}/careplan/{name}:${{TAG}}"]


def test_compose_builds_each_image_as_its_bake_target() -> None:
    built = {n: s for n, s in compose()["services"].items() if "build" in s}
    assert built
    for service_name, service in built.items():
        image = re.fullmatch(r"careplan/([a-z-]+):local", service["image"])
        assert image, f"{service_name}: {service['image']}"
        target = resolved_target(image.group(1))
        assert Path(service["build"]["dockerfile"]).name == target["dockerfile"], service_name
        assert service["build"]["target"] == target["target"], service_name
        assert service["build"]["args"] == target["args"], service_name


# --- the Dockerfile ------------------------------------------------------------------------


def workspace_members() -> list[Path]:
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    return sorted(
        p for pattern in members for p in ROOT.glob(pattern) if (p / "pyproject.toml").is_file()
    )


def test_the_builder_installs_the_packages_of_the_build_argument_from_the_lock() -> None:
    builder = stages()["builder"]
    syncs = re.findall(r"uv sync (.*)", builder)
    assert len(syncs) == 2
    for sync in syncs:
        assert sync.startswith("--frozen --no-dev")
        assert "$(printf -- '--package %s ' ${PACKAGES})" in sync
    assert "--no-editable" in syncs[1], "the runtime would need the source tree"
    # uv needs every member's manifest to read the lock: a new member must be copied too.
    for member in workspace_members():
        manifest = member.relative_to(ROOT) / "pyproject.toml"
        assert f"COPY {manifest} {member.relative_to(ROOT)}/" in builder, f"misses {manifest}"


def test_the_dependency_layer_copies_every_workspace_member_s_manifest() -> None:
    """uv reads the whole workspace to resolve the lock: a member whose pyproject.toml the layer
    leaves out (libs/telemetry once was) fails `uv sync --frozen` in every image."""
    members = {
        path.parent.relative_to(ROOT).as_posix()
        for path in ROOT.glob("*/*/pyproject.toml")
        if path.parts[-3] in ("libs", "services")
    } | {"devstack"}
    copied = set(re.findall(r"^COPY (\S+)/pyproject\.toml \1/$", DOCKERFILE.read_text(), re.M))
    assert members <= copied, f"not copied into the dependency layer: {sorted(members - copied)}"


@pytest.mark.parametrize("stage", ["runtime", "lambda-local"])
def test_a_final_stage_is_slim_non_root_and_without_build_tools(stage: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = {
        name: image
        for image, name in re.findall(r"^FROM python:(\S+) AS ([\w-]+)$", text, flags=re.MULTILINE)
    }
    assert bases[stage] == bases["builder"], "the venv's interpreter path must exist at run time"
    assert bases[stage].startswith("3.11.")
    assert "-slim" in bases[stage]
    body = stages()[stage]
    assert "/bin/uv" not in body, "build tools in the final image"
    assert "apt-get" not in body, "build tools in the final image"
    assert "COPY --from=builder /app/.venv /app/.venv" in body
    assert re.search(r"^USER 10001:10001$", body, flags=re.MULTILINE)
    assert "HEALTHCHECK" in body


def test_the_default_stage_is_a_service_that_runs_its_module() -> None:
    assert list(stages())[-1] == "runtime"
    runtime = stages()["runtime"]
    assert "APP_MODULE=${APP_MODULE}" in runtime
    assert "runpy.run_module(os.environ['APP_MODULE'], run_name='__main__'" in runtime
    assert "EXPOSE ${HTTP_PORT}" in runtime


# --- make images / make push -----------------------------------------------------------------


def fake_docker(directory: Path, *, engine: bool) -> Path:
    """A `docker` that logs its arguments and REGISTRY/TAG; `info` fails without an engine."""
    log = directory / "docker.log"
    script = directory / "docker"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'if [[ "$1" == info ]]; then exit {0 if engine else 1}; fi\n'
        f'echo "$* | REGISTRY=${{REGISTRY:-}} TAG=${{TAG:-}}" >> {log}\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def make(target: str, directory: Path, *variables: str) -> tuple[int, str]:
    env = {**os.environ, "PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}
    env.pop("REGISTRY", None)
    env.pop("TAG", None)
    result = run(["make", "--no-print-directory", target, *variables], env=env)
    return result.returncode, result.stdout + result.stderr


def test_make_images_without_an_engine_says_so_and_fails(tmp_path: Path) -> None:
    log = fake_docker(tmp_path, engine=False)
    code, output = make("images", tmp_path)
    assert code != 0
    assert "no Docker engine is reachable" in output
    assert not log.exists(), "nothing may be built without an engine"


def test_make_images_bakes_every_target_into_the_local_engine(tmp_path: Path) -> None:
    log = fake_docker(tmp_path, engine=True)
    code, output = make("images", tmp_path)
    assert code == 0, output
    assert log.read_text().splitlines()[-1] == (
        "buildx bake --file docker-bake.hcl --load | REGISTRY= TAG="
    )


def test_make_push_pushes_the_services_to_the_registry(tmp_path: Path) -> None:
    log = fake_docker(tmp_path, engine=True)
    registry = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
    code, output = make("push", tmp_path, f"REGISTRY={registry}", "TAG=0.2.0")
    assert code == 0, output
    assert log.read_text().splitlines()[-1] == (
        f"buildx bake --file docker-bake.hcl --push services | REGISTRY={registry} TAG=0.2.0"
    )


def test_make_push_without_a_registry_refuses(tmp_path: Path) -> None:
    log = fake_docker(tmp_path, engine=True)
    code, output = make("push", tmp_path)
    assert code != 0
    assert "make push REGISTRY=<registry>" in output
    assert "bake" not in log.read_text()
