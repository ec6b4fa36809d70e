"""HTTP/1.1 pipelining for bulk Toxiproxy admin calls.

A partition of a 20-node testbed is hundreds of toxic additions; one request at a time costs
~0.4 ms each in Python, so they are written back to back on a few keep-alive connections and
their answers read in order (Go's net/http serves pipelined requests sequentially per
connection). Measured here: 200 toxics in ~7 ms instead of ~75 ms.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

CONNECTIONS = 4


def _request(method: str, path: str, body: Any, host: str) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


class ResponseReader:
    """Reads consecutive HTTP/1.1 responses (Content-Length or chunked) from one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self) -> tuple[int, bytes]:
        status = int(self._line().split()[1])
        headers = {}
        while line := self._line():
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._take(size)
                self._take(2)
            self._line()
            return status, body
        return status, self._take(int(headers.get("content-length", "0")))


def pipelined(url: str, calls: list[tuple[str, str, Any]], timeout_s: float) -> list[
        tuple[int, bytes]]:
    """Send (method, path, json body) calls over a few pipelined connections; answers in
    the order of ``calls``. Transport errors raise OSError/ConnectionError."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    n = max(1, min(CONNECTIONS, len(calls)))
    shards = [list(range(i, len(calls), n)) for i in range(n)]
    socks = [socket.create_connection((host, port), timeout=timeout_s) for _ in range(n)]
    out: list[tuple[int, bytes]] = [(0, b"")] * len(calls)
    try:
        for sock, idx in zip(socks, shards, strict=True):
            sock.sendall(b"".join(_request(*calls[i], host=f"{host}:{port}") for i in idx))
        for sock, idx in zip(socks, shards, strict=True):
            reader = ResponseReader(sock)
            for i in idx:
                out[i] = reader.response()
    finally:
        for sock in socks:
            sock.close()
    return out
