"""``careplan token`` against the test session's moto: the last line is a token the services'
verifier accepts, bound to the role and id asked for."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from devstack.settings import DevstackSettings
from eventing.authentication import token_verifier
from eventing.identity import Principal, Role
from tests.support.cognito import LocalIdentities


def _careplan_token(settings: DevstackSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "careplan"), "token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**settings.as_environment(), "PATH": "/usr/bin:/bin"},
    )


def test_the_token_on_the_last_line_verifies_as_the_patient_asked_for(
    identities: LocalIdentities,
) -> None:
    patient = str(uuid.uuid4())
    result = _careplan_token(identities.settings, "--patient", patient)
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    verifier = token_verifier(identities.auth)
    assert verifier is not None
    principal = verifier.verify(token)
    assert principal == Principal(Role.PATIENT, principal.subject, patient_id=patient)


def test_one_role_at_a_time(identities: LocalIdentities) -> None:
    result = _careplan_token(identities.settings, "--operator", "--provider", "p")
    assert result.returncode == 2
