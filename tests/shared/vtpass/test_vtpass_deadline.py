"""Every VTPass call is bounded by a wall-clock deadline, and cannot send after it.

Read timeouts bound each read, not the call: a server that trickles its answer one byte per
read, each well inside the read timeout, would hold a call for as long as it likes; a name
lookup has no bound at all. Both run over real local sockets here.
"""

from __future__ import annotations

import socket
import threading
from decimal import Decimal

import pytest

from shared.vtpass import OutcomeKind, VTPassClient, VTPassMaybeSent, VTPassNotSent
from shared.vtpass.transport import Transport

RID = "202503101014abcdef123456"
WAIT = 30.0  # how long a test waits for an event it caused, at most


class TrickleServer:
    """Read each request whole, then answer one byte at a time until the client goes away."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self.received: list[bytes] = []  # every connection's bytes, once it closed
        self.closed = threading.Event()
        self.trickle = threading.Event()  # set: answer a byte per read-timeout tenth
        self._pace = 0.05
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            try:
                conn.settimeout(WAIT)
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        raise ConnectionError
                    data += chunk
                # The body may come in a later segment than the headers: read all of it.
                while len(data) < _request_length(data):
                    chunk = conn.recv(4096)
                    if not chunk:
                        raise ConnectionError
                    data += chunk
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                conn.sendall(head + b"Content-Length: 100000\r\n\r\n")
                # Each byte comes well inside the read timeout; the whole body never does.
                stop = threading.Event()
                while not stop.wait(self._pace):
                    conn.sendall(b" ")
            except OSError:
                pass
        self.received.append(data)
        self.closed.set()

    def close(self) -> None:
        self._sock.close()


def _request_length(data: bytes) -> int:
    """How many bytes the request whose head `data` starts with has in all."""
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value.strip())
    return len(head) + 4


@pytest.fixture
def trickle_server():
    server = TrickleServer()
    yield server
    server.close()


def _client(port: int, *, host: str = "127.0.0.1", deadline: float = 1.0) -> VTPassClient:
    return VTPassClient(
        base_url=f"http://{host}:{port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        connect_timeout=2,
        read_timeout=2,
        deadline=deadline,
    )


def test_a_trickled_answer_ends_at_the_deadline_as_maybe_sent(trickle_server):
    """The pay left whole, so a trickle cut at the deadline is an unknown outcome."""
    outcome = _client(trickle_server.port).pay(
        request_id=RID, service_id="mtn", phone="08011111111", amount=Decimal(20)
    )
    assert outcome.kind is OutcomeKind.PENDING
    # The abandoned call's socket is shut, so its thread stops reading: the server sees it go.
    assert trickle_server.closed.wait(WAIT)
    assert RID.encode() in trickle_server.received[0]


def test_the_transport_raises_maybe_sent_when_a_trickle_outlasts_the_deadline(trickle_server):
    transport = Transport(
        base_url=f"http://127.0.0.1:{trickle_server.port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        timeout=(2, 2),
        session=None,
        on_exchange=None,
        deadline=0.5,
    )
    with pytest.raises(VTPassMaybeSent, match="deadline"):
        transport.exchange("GET", "balance")


class SlowResolver:
    """Stand in for a resolver that hangs: each lookup waits until the test lets it go."""

    def __init__(self, real) -> None:
        self._real = real
        self.asked = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()

    def __call__(self, host, *args, **kwargs):
        if host == "vtpass.test":
            self.asked.set()
            self.release.wait(WAIT)
            host = "127.0.0.1"
            try:
                return self._real(host, *args, **kwargs)
            finally:
                self.answered.set()
        return self._real(host, *args, **kwargs)


@pytest.fixture
def slow_resolver(monkeypatch):
    resolver = SlowResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    yield resolver
    resolver.release.set()


def test_a_hanging_name_lookup_ends_at_the_deadline_as_never_sent(trickle_server, slow_resolver):
    """Past the deadline nothing has left, and nothing ever will: the pay may be sent again."""
    client = _client(trickle_server.port, host="vtpass.test")
    outcome = client.pay(request_id=RID, service_id="mtn", phone="08011111111", amount=Decimal(20))
    assert slow_resolver.asked.is_set()
    assert outcome.kind is OutcomeKind.NOT_SENT
    # Now the lookup answers: the abandoned call connects, but the gate lets no byte out.
    slow_resolver.release.set()
    assert slow_resolver.answered.wait(WAIT)
    assert trickle_server.closed.wait(WAIT)
    assert trickle_server.received == [b""]


def test_the_transport_raises_not_sent_when_the_lookup_outlasts_the_deadline(
    trickle_server, slow_resolver
):
    transport = Transport(
        base_url=f"http://vtpass.test:{trickle_server.port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        timeout=(2, 2),
        session=None,
        on_exchange=None,
        deadline=0.5,
    )
    with pytest.raises(VTPassNotSent, match="never left"):
        transport.exchange("POST", "pay", payload={"request_id": RID})


def test_a_proxied_call_abandoned_at_its_deadline_never_sends_later(
    trickle_server, slow_resolver, monkeypatch
):
    """Through a proxy the outcome past the deadline is unknown (the proxy may have taken
    bytes), but the abandoned call is still stopped: once the proxy's name resolves, the gate
    lets none of the pay out, so it cannot reach VTPass after the purchase moved on."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://vtpass.test:{trickle_server.port}")
    monkeypatch.setenv("http_proxy", f"http://vtpass.test:{trickle_server.port}")
    client = VTPassClient(
        base_url="http://vtpass.example/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        connect_timeout=2,
        read_timeout=2,
        deadline=0.5,
    )
    outcome = client.pay(request_id=RID, service_id="mtn", phone="08011111111", amount=Decimal(20))
    assert slow_resolver.asked.is_set()
    assert outcome.kind is OutcomeKind.PENDING  # unknown, never "never sent"
    slow_resolver.release.set()
    assert slow_resolver.answered.wait(WAIT)
    assert trickle_server.closed.wait(WAIT)
    assert trickle_server.received == [b""]


def test_a_session_without_the_gate_never_counts_as_never_sent(trickle_server, slow_resolver):
    """An injected session's connections cannot be stopped: past the deadline, unknown."""
    import requests

    transport = Transport(
        base_url=f"http://vtpass.test:{trickle_server.port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        timeout=(2, 2),
        session=requests.Session(),
        on_exchange=None,
        deadline=0.5,
    )
    with pytest.raises(VTPassMaybeSent):
        transport.exchange("POST", "pay", payload={"request_id": RID})


def test_an_answer_within_the_deadline_is_returned_as_before():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            body = b'{"code": "000", "balance": 12}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    threading.Thread(target=answer, daemon=True).start()
    try:
        assert _client(port, deadline=WAIT).balance() == Decimal(12)
    finally:
        listener.close()


@pytest.fixture
def peer():
    """A connected pair over real TCP: (listening side's accepted socket, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    ready = threading.Event()

    def accept() -> None:
        conn, _ = listener.accept()
        conn.settimeout(WAIT)
        accepted.append(conn)
        ready.set()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], ready, accepted
    listener.close()
    for conn in accepted:
        conn.close()


def _gated_connection(port: int):
    from shared.vtpass import deadline

    pool = deadline._GatedHTTPPool("127.0.0.1", port)
    conn = pool._get_conn()
    conn.connect()
    return deadline, pool, conn


def test_an_abandoned_call_resets_its_socket_so_queued_bytes_are_dropped(peer):
    """Linger 0 before the shutdown: the close that follows is a reset, not a FIN after
    whatever request bytes were still queued in the kernel."""
    import struct

    port, ready, _ = peer
    deadline, _, conn = _gated_connection(port)
    gate = deadline._Gate(guarded=True)
    deadline._current.gate = gate
    try:
        conn.send(b"POST /api/pay HTTP/1.1\r\n")
    finally:
        deadline._current.gate = None
    assert ready.wait(WAIT)
    assert gate.abandon() is False  # bytes had left: unknown
    linger = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)
    assert struct.unpack("ii", linger) == (1, 0)
    conn.close()


def test_a_connection_back_in_its_pool_is_not_shut_by_the_call_that_released_it(peer):
    """An exchange that ended returns its connection to the pool before its thread is done;
    a deadline passing in that window must not shut the socket another call now uses."""
    port, ready, accepted = peer
    deadline, pool, conn = _gated_connection(port)
    gate = deadline._Gate(guarded=True)
    deadline._current.gate = gate
    try:
        conn.send(b"GET /api/balance HTTP/1.1\r\n\r\n")
    finally:
        deadline._current.gate = None
    pool._put_conn(conn)
    gate.abandon()
    # Still open: the next call's bytes reach the peer.
    assert ready.wait(WAIT)
    conn.sock.sendall(b"next")
    got = b""
    while not got.endswith(b"next"):
        chunk = accepted[0].recv(4096)
        assert chunk, "the pooled connection was shut"
        got += chunk
    conn.close()


def test_an_answer_read_whole_just_before_the_deadline_is_kept(peer):
    """The call's connection went back to its pool (its answer read whole) and then the
    deadline passed before its thread handed the answer over: the answer is returned, not
    thrown away as unknown (nothing more can leave, the gate being shut)."""
    from shared.vtpass.deadline import call_within

    port, ready, _ = peer
    deadline, pool, conn = _gated_connection(port)

    def exchange() -> str:
        conn.send(b"GET /api/balance HTTP/1.1\r\n\r\n")
        pool._put_conn(conn)  # the answer was read whole
        gate = deadline._current.gate
        give_up = threading.Event()
        # Hand the answer over only once the caller has given up (bounded wait).
        for _ in range(int(WAIT / 0.01)):
            if gate._abandoned or give_up.wait(0.01):
                break
        return "answer"

    assert call_within(0.2, exchange, guarded=True) == "answer"
    conn.close()
