"""Test session wiring.

Unit tests need nothing. Integration and end-to-end tests ask for ``infrastructure`` (or the
whole platform): the session then starts the real Kafka, PostgreSQL and moto through the same
launcher as `careplan up`, on shifted ports in a state folder of its own, so that it can run
beside a platform started by `make up`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.catalog import INFRASTRUCTURE, platform_components
from devstack.platform import Platform
from devstack.settings import DevstackSettings
from tests.support.aws_calls import recording_into, session_log
from tests.support.cognito import LocalIdentities

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionfinish() -> None:
    """Clients that outlive the test broker log "connection refused" while the interpreter
    exits, after the results are in: keep those lines out of the run's closing output."""
    logging.getLogger("librdkafka").disabled = True


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The contract audit reads what every other test produced: it runs last, also after
    `make test-random` shuffled the rest (hence trylast: after the shuffle)."""
    items.sort(key=lambda item: item.get_closest_marker("contract_audit") is not None)
    if os.environ.get("MUTANT_UNDER_TEST"):
        # mutmut hands a mutant's tests over as an unordered set and stops at the first
        # failure (-x): unit tests first, so a mutant they kill never waits for Kafka.
        items.sort(key=lambda item: not item.nodeid.startswith("tests/unit/"))


def _test_settings() -> DevstackSettings:
    offset = int(os.environ.get("CAREPLAN_TEST_PORT_OFFSET", "10000"))
    return DevstackSettings(
        state_dir=REPO / ".careplan" / f"test-{offset}",
        port_offset=offset,
        kafka_bootstrap_servers=None,
        database_url=None,
        aws_endpoint_url=None,
        booking_timeout_seconds=float(os.environ.get("CAREPLAN_TEST_BOOKING_TIMEOUT", "5")),
        # Functional tests leave bookings waiting on purpose (the provider side stopped, a reply
        # that never comes): the platform they share must not start shedding the next test's
        # bookings. Shedding has tests of its own (test_admission.py) and the overload benchmark.
        admission_budget_seconds=3600.0,
    )


def _shares_a_running_platform() -> bool:
    """`make mutation` runs one pytest session per mutant: starting Kafka and PostgreSQL for
    each would cost a minute a mutant, so those sessions start the platform once, leave it
    running, and `make mutation` stops it at the end (tests use unique ids and topics, so a
    session finds nothing of the one before in its way)."""
    return os.environ.get("CAREPLAN_TEST_SHARED_PLATFORM") == "1"


@pytest.fixture(scope="session")
def devstack_settings() -> DevstackSettings:
    return _test_settings()


@pytest.fixture(scope="session")
def test_platform(devstack_settings: DevstackSettings) -> Iterator[Platform]:
    """The launcher of this test session: fresh state, stopped at the end. Every process it
    starts records the AWS calls it makes, for the IAM check (tests/unit/deploy/test_iam.py)."""
    platform = Platform(devstack_settings, INFRASTRUCTURE)
    if _shares_a_running_platform():
        yield platform
        return
    # Whatever an aborted earlier session left running (services included) is stopped while its
    # pid files still exist: wiping them first would orphan those processes.
    Platform(devstack_settings, platform_components()).down()
    shutil.rmtree(devstack_settings.state_dir, ignore_errors=True)
    with recording_into(session_log(devstack_settings.state_dir)):
        try:
            yield platform
        finally:
            platform.down()


@pytest.fixture(scope="session")
def infrastructure(
    test_platform: Platform, devstack_settings: DevstackSettings
) -> DevstackSettings:
    test_platform.up([c.name for c in INFRASTRUCTURE])
    return devstack_settings


@pytest.fixture(scope="session")
def identities(infrastructure: DevstackSettings) -> LocalIdentities:
    """The local Cognito user pool on the session's moto, and real tokens from it."""
    return LocalIdentities.of(infrastructure)


@pytest.fixture(scope="session")
def launcher(devstack_settings: DevstackSettings, test_platform: Platform) -> Iterator[Platform]:
    """The whole catalog (infrastructure and services) on the test session's ports.

    Tests bring up what they need with ``launcher.up([...])`` (idempotent); everything is
    stopped when the session ends.
    """
    platform = Platform(devstack_settings, platform_components())
    if _shares_a_running_platform():
        yield platform
        return
    try:
        yield platform
    finally:
        platform.down()
