"""An AWS command run while moto (or AWS) is unreachable, or before its table exists, ends in
one line saying what to run, not a botocore traceback."""

from __future__ import annotations

import pytest
import typer
from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.cli_errors import aws_reachable
from devstack.settings import DevstackSettings


def test_an_unreachable_endpoint_is_one_line_naming_careplan_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = DevstackSettings(port_offset=700)
    with pytest.raises(typer.Exit), aws_reachable(settings, "clinic-visits"):
        raise EndpointConnectionError(endpoint_url=settings.aws_endpoint)

    output = capsys.readouterr().out
    assert f"AWS (moto) at {settings.aws_endpoint} is not running" in output
    assert "careplan up" in output
    assert "Traceback" not in output


def test_a_missing_table_is_one_line_and_other_errors_are_not_hidden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "Scan")
    with pytest.raises(typer.Exit), aws_reachable(DevstackSettings(), "clinic-visits"):
        raise missing
    assert "The table clinic-visits does not exist yet" in capsys.readouterr().out

    denied = ClientError({"Error": {"Code": "AccessDeniedException"}}, "Scan")
    with pytest.raises(ClientError), aws_reachable(DevstackSettings(), "clinic-visits"):
        raise denied
