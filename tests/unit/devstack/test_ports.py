"""Which ports the launcher refuses before it starts anything."""

from __future__ import annotations

from pathlib import Path

from devstack.ports import DEFAULT_EPHEMERAL_PORTS, ephemeral_ports


def test_the_ephemeral_range_is_the_kernels_setting_or_linuxs_default(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t50999\n")
    assert ephemeral_ports(setting) == range(40000, 51000)
    assert ephemeral_ports(tmp_path / "absent") == DEFAULT_EPHEMERAL_PORTS
