"""Ports the platform is about to listen on, checked before anything starts.

A local PostgreSQL on 5432 or another app on 8080 is common; without this check the part fails
later with its own log tail ("postgres: exited while starting"), which hides the cause.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True, slots=True)
class PortConflict:
    component: str
    port: int
    holder: str  # "pid 123 (postgres)" or why it is unknown


# Linux's default, when the kernel's setting cannot be read.
DEFAULT_EPHEMERAL_PORTS = range(32768, 61000)


def ephemeral_ports(
    setting: Path = Path("/proc/sys/net/ipv4/ip_local_port_range"),
) -> range:
    """The ports the kernel hands to outgoing connections. A part listening on one of them can
    find it taken at any moment by a connection of its own neighbours (a Kafka client's
    connection held for hours): the port is free when ``up`` checks, and the part fails to bind
    minutes later (seen: a test platform at offset 27,500 whose flow page never started)."""
    try:
        low, high = (int(part) for part in setting.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_PORTS
    return range(low, high + 1)


def is_taken(port: int) -> bool:
    """True when something listens on ``port`` (on any address: the wildcard bind collides
    with a listener on 127.0.0.1 as well as with one on every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # A socket in TIME_WAIT from our own previous run must not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def holder_of(port: int) -> str:
    """Who listens on ``port``, as far as this user may see."""
    try:
        listeners = [
            connection.pid
            for connection in psutil.net_connections(kind="inet")
            if connection.laddr
            and connection.laddr.port == port
            and connection.status == psutil.CONN_LISTEN
        ]
    except psutil.AccessDenied:
        return "another user's process"
    for pid in listeners:
        if pid is None:
            continue
        try:
            process = psutil.Process(pid)
            command = " ".join(process.cmdline()[:3]) or process.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return f"pid {pid}"
        return f"pid {pid} ({command[:80]})"
    return "a process this user cannot see"
