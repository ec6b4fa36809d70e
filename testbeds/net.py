"""Addresses and sockets on this machine: each node's loopback address, port probes."""

from __future__ import annotations

import socket


def node_host(slot: int, index: int) -> str:
    """A loopback address of the node's own: 127.<100 + slot>.<i/250>.<i%250+1>."""
    return f"127.{100 + slot % 150}.{index // 250}.{index % 250 + 1}"


def tcp_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
