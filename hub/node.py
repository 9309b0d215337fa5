"""This process's name in the cluster: who holds a claim or a lease, and the label on its metrics."""

from __future__ import annotations

import os
import secrets
import socket


def new_node_id() -> str:
    """``host:pid:random`` — unique even when a restarted container gets the same host name and pid."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"
