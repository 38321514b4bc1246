"""The AWS tail against the moto server that the test session starts through the launcher,
with the resources of deploy/eventbridge applied to it (as `careplan up` applies them)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from clinic_operations.handler import dynamodb_client
from devstack.aws_bootstrap import AppliedResources, AwsClients, apply_aws_resources
from devstack.settings import DevstackSettings

# moto keeps each region apart: these tests get buses, queues and tables of their own, so the
# platform's Lambda runner (started by the end-to-end tests, on us-east-1) never takes their
# messages, and they never stop it.
AWS_REGION = "eu-west-3"


@pytest.fixture(scope="session")
def aws_endpoint_url(infrastructure: DevstackSettings) -> str:
    return infrastructure.aws_endpoint


@pytest.fixture(scope="session")
def aws_clients(aws_endpoint_url: str) -> AwsClients:
    # moto accepts any credentials; explicit ones keep the host's AWS profile out of the tests.
    session = boto3.Session(
        region_name=AWS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return AwsClients.from_session(session, endpoint_url=aws_endpoint_url)


@pytest.fixture(scope="session")
def applied_aws_resources(aws_clients: AwsClients) -> AppliedResources:
    return apply_aws_resources(aws_clients)


@pytest.fixture
def lambda_environment(aws_endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What Lambda (or the devstack) gives the function: region, endpoint, credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("CLINIC_VISITS_TABLE", raising=False)
    # The handler keeps its client for the life of the execution environment: start afresh.
    dynamodb_client.cache_clear()
    yield
    dynamodb_client.cache_clear()
