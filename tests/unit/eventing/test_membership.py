"""Which identity and session a consumer joins its group with (eventing.membership)."""

from __future__ import annotations

import pytest

from eventing.membership import fast_resume_config


@pytest.fixture(autouse=True)
def _no_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONSUMER_INSTANCE_ID", "HOSTNAME", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CONSUMER_SESSION_TIMEOUT_MS", raising=False)


def test_the_launcher_identity_makes_a_static_member_per_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSUMER_INSTANCE_ID", "care-plan-0")

    replies = fast_resume_config("care-plan.booking-replies")
    projector = fast_resume_config("care-plan.availability-projector")

    assert replies["group.instance.id"] == "care-plan-0/care-plan.booking-replies"
    assert projector["group.instance.id"] == "care-plan-0/care-plan.availability-projector"


def test_on_kubernetes_the_pod_name_is_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("HOSTNAME", "care-plan-7f9c-x2k4q")

    assert fast_resume_config("g")["group.instance.id"] == "care-plan-7f9c-x2k4q/g"


def test_a_machine_hostname_outside_kubernetes_is_not_an_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two processes started by hand on one machine share it: as static members they would
    # fence each other out of the group.
    monkeypatch.setenv("HOSTNAME", "laptop")

    assert "group.instance.id" not in fast_resume_config("g")


def test_the_session_is_short_on_the_classic_protocol_with_a_third_as_heartbeat() -> None:
    config = fast_resume_config("g")

    assert config["group.protocol"] == "classic"
    assert config["session.timeout.ms"] == "6000"
    assert config["heartbeat.interval.ms"] == "2000"


def test_a_session_shorter_than_the_broker_accepts_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSUMER_SESSION_TIMEOUT_MS", "1000")

    with pytest.raises(ValueError, match="consumer_session_timeout_ms"):
        fast_resume_config("g")
