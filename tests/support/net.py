"""Network helpers for tests that start real servers on loopback."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port free at the time of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
