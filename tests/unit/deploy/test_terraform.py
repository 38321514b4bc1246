"""deploy/terraform parses, is consistent, and builds the rules from the files `careplan up` uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.aws_bootstrap import default_resources_dir, load_aws_resources, rule_requests
from tests.unit.deploy.terraform import (
    HCL_TO_JSON,
    TERRAFORM,
    blocks,
    functions,
    local_modules,
    locals_,
    parsed,
    parsed_folder,
    resources,
    source_text,
)
from tests.unit.deploy.tools import DEPLOY, run, tools_python

OVERLAY_ENV = DEPLOY / "k8s" / "components" / "eks" / "terraform-outputs.env"
# The local that names each function's queue, by package.
QUEUE_LOCAL = {"clinic_operations": "clinic_operations", "patient_notifications": "notifications"}


def test_every_terraform_file_parses() -> None:
    assert set(parsed()) == {p.name for p in TERRAFORM.glob("*.tf")}
    assert len(parsed()) >= 10
    assert local_modules(), "no module under deploy/terraform/modules"
    for folder in local_modules().values():
        assert set(parsed_folder(folder)) == {p.name for p in folder.glob("*.tf")}


def test_a_broken_file_fails_the_parse(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text(
        'resource "aws_sqs_queue" "q" {\n  name = \n', encoding="utf-8"
    )
    assert run([tools_python(), HCL_TO_JSON, tmp_path]).returncode == 1


# The root and each local module: every one has variables and locals of its own.
FOLDERS = [TERRAFORM, *local_modules().values()]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_variable_used_is_declared_and_every_declared_one_used(folder: Path) -> None:
    declared = set(blocks("variable", folder))
    used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", source_text(folder)))
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"
    for name, variable in blocks("variable", folder).items():
        assert variable.get("description"), f"variable {name} has no description"
        assert "type" in variable, f"variable {name} has no type"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_local_used_is_defined(folder: Path) -> None:
    defined = set(locals_(folder))
    used = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", source_text(folder)))
    assert used - defined == set()


@pytest.mark.parametrize("folder", local_modules().values(), ids=lambda f: f.name)
def test_every_local_module_is_called_with_exactly_its_variables(folder: Path) -> None:
    callers = [
        (label, call)
        for label, call in blocks("module").items()
        if (TERRAFORM / call["source"]).resolve() == folder.resolve()
    ]
    assert callers, f"modules/{folder.name} is called by nobody"
    for label, call in callers:
        assert set(call) - {"source"} == set(blocks("variable", folder)), label


def test_registry_modules_are_the_well_known_ones_pinned_exactly() -> None:
    modules = blocks("module")
    assert {"vpc", "eks"} <= set(modules)
    for name, module in modules.items():
        if module["source"].startswith("./modules/"):
            # Ours, in this repository: nothing to pin.
            assert module["source"].removeprefix("./modules/") in local_modules(), name
            assert "version" not in module, name
            continue
        assert module["source"].startswith("terraform-aws-modules/"), name
        assert re.fullmatch(r"\d+\.\d+\.\d+", module["version"]), f"module {name} is not pinned"


def test_variables_cover_region_sizes_and_the_msk_option() -> None:
    variables = blocks("variable")
    for name in (
        "region",
        "availability_zones",
        "node_instance_types",
        "node_desired_size",
        "db_instance_class",
        "db_allocated_storage",
        "db_multi_az",
        "use_msk",
    ):
        assert name in variables, name
    assert variables["use_msk"]["type"] == "bool"
    (msk,) = resources("aws_msk_cluster").values()
    assert msk["count"] == "${var.use_msk ? 1 : 0}"


def resolve(expression: str) -> Path:
    """Turns "${path.module}/..." and "${local.eventbridge_dir}/..." into a path."""
    eventbridge_dir = locals_()["eventbridge_dir"]
    text = expression.replace("${local.eventbridge_dir}", eventbridge_dir)
    text = text.replace("${path.module}", str(TERRAFORM))
    assert "${" not in text, f"cannot resolve {expression}"
    return Path(text).resolve()


def test_every_file_terraform_reads_exists(lambda_packages: Path) -> None:
    references = re.findall(r'(?:file|fileset)\("([^"]+)"', source_text())
    references += [a["source_dir"] for a in resources("archive_file").values()]
    references += [call.resource("archive_file")["source_dir"] for call in functions().values()]
    assert len(references) >= 5
    for reference in references:
        if reference.endswith("/${file_name}"):
            # One file per name of the fileset() it iterates: its folder must hold some.
            folder = resolve(reference.removesuffix("/${file_name}"))
            assert sorted(folder.glob("*.json")), f"{reference}: no JSON in {folder}"
            continue
        assert resolve(reference).exists(), f"{reference} -> {resolve(reference)} does not exist"
    rule_dir = resolve("${local.eventbridge_dir}/rules")
    assert sorted(rule_dir.glob("*.json")), "no rule JSON where Terraform reads them"


def test_terraform_reads_the_rules_careplan_up_applies() -> None:
    assert resolve(locals_()["eventbridge_dir"]) == default_resources_dir().resolve()


def terraform_rule_requests() -> list[dict[str, Any]]:
    """What Terraform creates from the rule files, following its expressions literally."""
    (rule,) = resources("aws_cloudwatch_event_rule").values()
    (target,) = resources("aws_cloudwatch_event_target").values()
    # Terraform passes every field of the JSON through unchanged: these expressions say so.
    assert rule["event_pattern"] == "${jsonencode(each.value.EventPattern)}"
    assert rule["name"] == "${each.value.Name}"
    assert (
        rule["event_bus_name"] == "${aws_cloudwatch_event_bus.this[each.value.EventBusName].name}"
    )
    assert rule["state"] == '${try(each.value.State, "ENABLED")}'
    assert target["target_id"] == "${each.value.Id}"
    assert target["arn"] == "${aws_sqs_queue.this[each.value.Queue].arn}"
    (transformer,) = target["dynamic"][0]["input_transformer"]["content"]
    assert transformer == {
        "input_paths": "${input_transformer.value.InputPathsMap}",
        "input_template": "${input_transformer.value.InputTemplate}",
    }
    requests = []
    for path in sorted(resolve("${local.eventbridge_dir}/rules").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        targets = []
        for t in document["Targets"]:
            rendered: dict[str, Any] = {"Id": t["Id"], "Arn": f"queue:{t['Queue']}"}
            if "InputTransformer" in t:
                rendered["InputTransformer"] = t["InputTransformer"]
            targets.append(rendered)
        requests.append(
            {
                "Name": document["Name"],
                "EventBusName": document["EventBusName"],
                "EventPattern": document["EventPattern"],
                "State": document.get("State", "ENABLED"),
                "Targets": targets,
            }
        )
    return requests


def test_rules_and_targets_equal_what_the_local_bootstrap_applies() -> None:
    local = [
        {
            "Name": r.put_rule["Name"],
            "EventBusName": r.put_rule["EventBusName"],
            "EventPattern": json.loads(r.put_rule["EventPattern"]),
            "State": r.put_rule["State"],
            "Targets": r.put_targets["Targets"],
        }
        for r in rule_requests(load_aws_resources(), queue_arn=lambda name: f"queue:{name}")
    ]
    cloud = terraform_rule_requests()
    key = lambda r: r["Name"]  # noqa: E731
    assert sorted(cloud, key=key) == sorted(local, key=key)
    names = {r["Name"] for r in cloud}
    assert {"all-confirmed-care-plan-events", "onsite-confirmed-care-plan-events"} <= names


@pytest.mark.parametrize("package", ["clinic_operations", "patient_notifications"])
def test_each_lambda_is_packaged_from_its_folder_behind_its_queue(
    lambda_packages: Path, package: str
) -> None:
    call = functions()[package]
    archive = call.resource("archive_file")
    # What `make lambda-packages` builds: the function with what it imports.
    assert resolve(archive["source_dir"]) == (lambda_packages / package).resolve()
    function = call.resource("aws_lambda_function")
    assert function["handler"] == f"{package}.handler.handler"
    assert function["runtime"] == "python3.11"
    # Named as queues.json names the function its queue's mapping invokes; logs where Lambda
    # writes a function of that name.
    queue_key = f"local.{QUEUE_LOCAL[package]}_queue"
    mapping_entry = f"local.event_source_mappings[{queue_key}]"
    assert call.arguments["event_source_mapping"] == f"${{{mapping_entry}}}"
    assert call.arguments["queue"] == f"${{aws_sqs_queue.this[{queue_key}]}}"
    assert (
        f'mapping.FunctionName == "{package.replace("_", "-")}"'
        in locals_()[queue_key.removeprefix("local.")]
    )
    assert function["function_name"] == f"${{{mapping_entry}.FunctionName}}"
    log_group = call.resource("aws_cloudwatch_log_group")
    assert log_group["name"] == f"/aws/lambda/{function['function_name']}"
    assert function["logging_config"][0]["log_group"] == (
        f"${{module.{call.label}.aws_cloudwatch_log_group.this.name}}"
    )
    mapping = call.resource("aws_lambda_event_source_mapping")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["function_name"] == f"${{module.{call.label}.aws_lambda_function.this.arn}}"
    assert mapping["event_source_arn"] == f"${{aws_sqs_queue.this[{queue_key}].arn}}"
    (queue,) = [
        q
        for q in load_aws_resources().queues
        if q.event_source_mapping is not None
        and q.event_source_mapping.function_name == package.replace("_", "-")
    ]
    assert queue.event_source_mapping is not None
    assert list(queue.event_source_mapping.function_response_types) == ["ReportBatchItemFailures"]


def test_notifications_send_from_the_ses_identity_terraform_verifies() -> None:
    call = functions()["patient_notifications"]
    sender = call.arguments["environment"]["NOTIFICATION_SENDER"]
    assert sender == "bookings@${aws_sesv2_email_identity.notifications.email_identity}"
    # The module adds LOG_LEVEL to the call's variables and nothing else.
    (environment,) = call.resource("aws_lambda_function")["environment"]
    assert environment["variables"] == '${merge(var.environment, {LOG_LEVEL = "INFO"})}'
    identity = resources("aws_sesv2_email_identity")["notifications"]
    assert identity["email_identity"] == "${var.notification_sender_domain}"


def test_every_queue_has_a_dead_letter_queue() -> None:
    queue = resources("aws_sqs_queue")
    assert set(queue) == {"this", "dead_letter", "eventbridge_dead_letter"}
    assert "deadLetterTargetArn = aws_sqs_queue.dead_letter[each.key].arn" in source_text()


def test_database_is_encrypted_backed_up_and_multi_az_is_an_option() -> None:
    (db,) = resources("aws_db_instance").values()
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    assert db["multi_az"] == "${var.db_multi_az}"
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert db["publicly_accessible"] is False
    assert db["manage_master_user_password"] is True


def test_the_sink_role_is_bound_to_its_service_account() -> None:
    # What the role allows is tested against the calls the sink makes: test_iam.py.
    irsa = blocks("module")["eventbridge_sink_irsa"]
    (provider,) = irsa["oidc_providers"].values()
    assert provider["namespace_service_accounts"] == [
        "${var.kubernetes_namespace}:eventbridge-sink"
    ]
    assert blocks("variable")["kubernetes_namespace"]["default"] == "careplan"


def overlay_env_keys() -> set[str]:
    lines = OVERLAY_ENV.read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0] for line in lines if line.strip() and not line.startswith("#")}


def test_the_outputs_are_exactly_what_the_eks_overlay_reads() -> None:
    outputs = set(locals_()["k8s_overlay_env"])
    assert outputs == overlay_env_keys()
    assert "k8s_overlay_env" in blocks("output")


@pytest.mark.parametrize(
    "name", ["provider-schedule", "care-plan", "insurance-processor", "eventbridge-sink"]
)
def test_every_service_image_has_a_repository(name: str) -> None:
    assert f'"{name}"' in locals_()["service_images"] or name in locals_()["service_images"]
