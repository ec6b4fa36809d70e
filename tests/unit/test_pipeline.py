"""The pipelined HTTP reader parses consecutive responses, sized and chunked."""

from __future__ import annotations

import socket
import threading

from testbeds.toxiproxy.pipeline import ResponseReader, pipelined


class FakeSock:
    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def recv(self, _n: int) -> bytes:
        out, self.data = self.data[: self.step], self.data[self.step:]
        return out


def test_reader_parses_back_to_back_responses_in_any_fragmentation() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
           b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnopee"
           b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n"
           b"0\r\n\r\n")
    for step in (1, 7, 1000):
        r = ResponseReader(FakeSock(raw, step))  # type: ignore[arg-type]
        assert [r.response() for _ in range(3)] == [(200, b"{}"), (404, b"nopee"),
                                                    (201, b"abcde")]


def test_pipelined_keeps_call_order_across_connections() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            conn, _ = srv.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while chunk := conn.recv(65536):
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    if len(rest) < length:
                        break
                    path = head.split(b" ")[1]
                    buf = rest[length:]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(path), path))

    threading.Thread(target=serve, daemon=True).start()
    calls = [("POST", f"/p{i}", {"i": i}) for i in range(3)]
    try:
        got = pipelined(f"http://127.0.0.1:{port}", calls, timeout_s=5)
    finally:
        srv.close()
    assert got == [(200, b"/p0"), (200, b"/p1"), (200, b"/p2")]
