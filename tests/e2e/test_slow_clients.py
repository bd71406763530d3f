"""Slow and hostile HTTP clients against the real server (issue 14): a request that does not
arrive whole in time gets 408, an oversized head gets 431, and neither holds up other clients.

Raw sockets throughout: an HTTP client library would not send a request this badly."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

TIMEOUT = 1.5  # CHATD_REQUEST_TIMEOUT for this module's server
SLACK = 0.75  # how late an answer may come on a busy 2-core machine
HEAD_LIMIT = 16384  # the default CHATD_MAX_HEADER_BYTES
STALLED_BODY = b'POST /chats/get HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"user"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (in place of conftest's, one per test), with a short deadline."""
    tmp = tmp_path_factory.mktemp("slow_clients")
    process = ServerProcess(
        f"sqlite:///{tmp / 'chatd.db'}",
        tmp / "server.log",
        CHATD_REQUEST_TIMEOUT=str(TIMEOUT),
        CHATD_WS_AUTH_TIMEOUT="30",
    ).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def user(server: ServerProcess) -> int:
    return int(httpx.post(f"{server.url}/users/add", json={"username": "alice"}).json()["id"])


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT + 5)


def _send(sock: socket.socket, data: bytes) -> None:
    """Send what the server will still take: it may close in the middle of a refused head."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names) and the body its Content-Length gives."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _assert_refused(sock: socket.socket, status: int, code: str) -> None:
    """A JSON error in chatd's shape, then the server closes the connection."""
    got, headers, body = _read_response(sock)
    assert got == status, body
    assert json.loads(body)["error"]["code"] == code
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    # Closed with the rest of what the client sent unread, the close may come as a reset.
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1) == b""


def _chats_get(user: int, head_bytes: int, body_padding: int = 0) -> bytes:
    """A valid request whose request line and headers take exactly `head_bytes` bytes."""
    body = b'{"user": %d}' % user + b" " * body_padding
    head = b"POST /chats/get HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Pad: " % len(body)
    padding = head_bytes - len(head) - len(b"\r\n\r\n")
    return head + b"p" * padding + b"\r\n\r\n" + body


def test_a_stalled_request_head_gets_408_at_the_deadline(server: ServerProcess) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /chats/get HTTP/1.1\r\nHost: x\r\nContent-Le")
        _assert_refused(sock, 408, "request_timeout")
        assert TIMEOUT - 0.1 < time.monotonic() - started < TIMEOUT + SLACK


def test_a_stalled_request_body_gets_408_at_the_deadline(server: ServerProcess) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(STALLED_BODY)
        _assert_refused(sock, 408, "request_timeout")
        assert TIMEOUT - 0.1 < time.monotonic() - started < TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(server: ServerProcess) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert TIMEOUT - 0.1 < time.monotonic() - started < TIMEOUT + SLACK


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /chats/get HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 100,
        STALLED_BODY + b" " * 90,
    ],
    ids=["in-headers", "in-body"],
)
def test_a_slowloris_trickling_bytes_is_cut_at_the_deadline_not_after_each_byte(
    server: ServerProcess, request_bytes: bytes
) -> None:
    interval = 0.1  # a byte every 0.1 s: the deadline would never come if each byte moved it
    with _connect(server) as sock:
        sock.setblocking(False)
        started = time.monotonic()
        sent = 0
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while not selector.select(interval) and sent < len(request_bytes):
                try:
                    sent += sock.send(request_bytes[sent : sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
        elapsed = time.monotonic() - started
        sock.settimeout(TIMEOUT + 5)
        _assert_refused(sock, 408, "request_timeout")
    assert sent > TIMEOUT / interval * 0.8  # the client kept trickling until it was cut
    assert TIMEOUT - 0.1 < elapsed < TIMEOUT + SLACK


def test_200_stalled_connections_do_not_delay_other_clients(
    server: ServerProcess, user: int
) -> None:
    stalled: list[socket.socket] = []
    try:
        opened = time.monotonic()
        for i in range(200):
            sock = _connect(server)
            stalled.append(sock)
            sock.sendall(STALLED_BODY if i % 2 else b"POST /chats/get HTTP/1.1\r\nHost: x\r\n")
        # A burst of ordinary requests while all 200 wait for their deadline.
        latencies = []
        with httpx.Client(base_url=server.url) as http:
            for _ in range(50):
                before = time.monotonic()
                assert http.post("/chats/get", json={"user": user}).status_code == 200
                latencies.append(time.monotonic() - before)
        burst_done = time.monotonic()
        assert burst_done < opened + TIMEOUT, "the burst must run while the 200 are stalled"
        assert max(latencies) < 0.25, latencies
        # Then each of the 200 gets its 408 at its deadline.
        answered = _wait_for_answers(stalled, deadline=opened + TIMEOUT + SLACK + 1)
        for sock, (at, raw) in answered.items():
            assert raw.startswith(b"HTTP/1.1 408 "), raw
            assert b'"code":"request_timeout"' in raw
            assert opened + TIMEOUT - 0.1 < at < burst_done + TIMEOUT + SLACK, sock
        assert len(answered) == 200
    finally:
        for sock in stalled:
            sock.close()


def _wait_for_answers(
    socks: list[socket.socket], deadline: float
) -> dict[socket.socket, tuple[float, bytes]]:
    """When each socket was first answered, and all it got until the server closed it."""
    answered: dict[socket.socket, tuple[float, bytes]] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(deadline - time.monotonic()):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                at, raw = answered.get(sock, (time.monotonic(), b""))
                chunk = sock.recv(65536)
                answered[sock] = (at, raw + chunk)
                if not chunk:
                    selector.unregister(sock)
    return answered


def test_a_one_megabyte_header_gets_431_and_the_connection_closed(
    server: ServerProcess, user: int
) -> None:
    with _connect(server) as sock:
        _send(sock, _chats_get(user, 2**20))
        _assert_refused(sock, 431, "request_header_fields_too_large")


def test_an_oversized_head_is_refused_before_it_ends(server: ServerProcess) -> None:
    # The head never ends: the server must not wait for it (nor buffer it) to refuse it.
    with _connect(server) as sock:
        started = time.monotonic()
        _send(sock, b"GET /chats/get HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2 * HEAD_LIMIT)
        _assert_refused(sock, 431, "request_header_fields_too_large")
        assert time.monotonic() - started < TIMEOUT / 2


def test_heads_up_to_the_limit_are_served_and_one_byte_more_is_refused(
    server: ServerProcess, user: int
) -> None:
    with _connect(server) as sock:
        # Keep-alive: each request gets the whole limit. The second's 200 KB body comes in the
        # same writes as its head: body bytes do not count toward the head.
        for body_padding in (0, 200_000):
            sock.sendall(_chats_get(user, HEAD_LIMIT, body_padding))
            status, _headers, body = _read_response(sock)
            assert (status, body) == (200, b"[]")
    with _connect(server) as sock:
        _send(sock, _chats_get(user, HEAD_LIMIT + 1))
        _assert_refused(sock, 431, "request_header_fields_too_large")


def test_over_100_headers_get_431(server: ServerProcess, user: int) -> None:
    def with_headers(count: int) -> bytes:
        request = _chats_get(user, 200)  # Host, Content-Length and X-Pad; then Connection
        head, _, body = request.partition(b"\r\n\r\n")
        extra = b"".join(b"\r\nX-H%d: v" % i for i in range(count - 4))
        return head + extra + b"\r\nConnection: close\r\n\r\n" + body

    with _connect(server) as sock:
        sock.sendall(with_headers(100))
        assert _read_response(sock)[0] == 200
    with _connect(server) as sock:
        _send(sock, with_headers(101))
        _assert_refused(sock, 431, "request_header_fields_too_large")


def test_a_websocket_is_not_cut_by_the_request_deadline(server: ServerProcess) -> None:
    # Not authenticated yet: the stream waits CHATD_WS_AUTH_TIMEOUT (30 s here) for it.
    with _connect(server) as sock:
        sock.sendall(
            b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 101 ")
        sock.settimeout(TIMEOUT + SLACK)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # still open, and silent, past the deadline
