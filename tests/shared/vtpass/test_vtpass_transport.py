"""The VTPass transport over real local sockets: what counts as "never sent"."""

from __future__ import annotations

import socket
import threading
from decimal import Decimal

import pytest

from shared.vtpass import OutcomeKind, VTPassClient, VTPassMaybeSent, VTPassNotSent
from shared.vtpass.transport import Transport

RID = "202503101014abcdef123456"


class OneShotServer:
    """Accept one connection, record the whole request, then send a canned answer."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self.port = self._sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append(head + b"\r\n\r\n" + body)
            conn.sendall(self._answer)

    def close(self) -> None:
        self._thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def conflicting_length_server():
    server = OneShotServer(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}"
    )
    yield server
    server.close()


def _client(port: int) -> VTPassClient:
    return VTPassClient(
        base_url=f"http://127.0.0.1:{port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        connect_timeout=5,
        read_timeout=5,
    )


def test_a_bad_response_header_after_the_pay_arrived_is_maybe_sent(conflicting_length_server):
    client = _client(conflicting_length_server.port)
    outcome = client.pay(request_id=RID, service_id="mtn", phone="08011111111", amount=Decimal(20))
    conflicting_length_server.close()
    # The pay reached the server whole: a pay-again would charge twice.
    assert len(conflicting_length_server.requests) == 1
    assert RID.encode() in conflicting_length_server.requests[0]
    assert outcome.kind is OutcomeKind.PENDING


def test_transport_raises_maybe_sent_for_a_bad_response_header(conflicting_length_server):
    transport = Transport(
        base_url=f"http://127.0.0.1:{conflicting_length_server.port}/api",
        api_key="ak_test_0123456789abcdef",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        timeout=(5, 5),
        session=None,
        on_exchange=None,
    )
    with pytest.raises(VTPassMaybeSent):
        transport.exchange("POST", "pay", payload={"request_id": RID})
    conflicting_length_server.close()
    assert len(conflicting_length_server.requests) == 1


def test_a_bad_header_of_ours_is_refused_before_sending():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    transport = Transport(
        base_url=f"http://127.0.0.1:{port}/api",
        api_key="bad\nkey_0123456789",
        public_key="PK_test_public_0123456789",
        secret_key="SK_test_secret_0123456789",
        timeout=(5, 5),
        session=None,
        on_exchange=None,
    )
    try:
        with pytest.raises(VTPassNotSent):
            transport.exchange("POST", "pay", payload={"request_id": RID})
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


def test_a_refused_connection_is_not_sent():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens on this port now
    outcome = _client(port).pay(
        request_id=RID, service_id="mtn", phone="08011111111", amount=Decimal(20)
    )
    assert outcome.kind is OutcomeKind.NOT_SENT


def test_a_client_keeps_a_connection_for_each_of_its_callers_at_once():
    """20 calls at once need 20 connections; the next 20 find them kept alive (urllib3 keeps
    10 per host unless told), so no call pays a new connection or TLS handshake."""
    import http.server
    from concurrent.futures import ThreadPoolExecutor

    callers = 20
    together = threading.Barrier(callers, timeout=15)
    connections: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as VTPass

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_GET(self) -> None:
            together.wait()  # every caller holds its own connection at the same moment
            body = b'{"code": 1, "contents": {"balance": 10}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = VTPassClient(
        base_url=f"http://127.0.0.1:{server.server_port}/api", api_key="k", public_key="PK_k",
        secret_key="SK_k", connections=callers,
    )  # fmt: skip
    try:
        with ThreadPoolExecutor(callers) as pool:
            for _ in range(2):
                assert list(pool.map(lambda _: client.balance(), range(callers))) == [10] * callers
                together.reset()
        adapter = client._transport._session.get_adapter(client.base_url)
        # (urllib3's container refuses plain iteration)
        pools = [adapter.poolmanager.pools[key] for key in adapter.poolmanager.pools.keys()]  # noqa: SIM118
        kept = [c for pool in pools for c in pool.pool.queue if c is not None and c.sock]
        assert len(kept) == callers
        # Kept with TCP keepalive, so an idle one is never silently dead when a pay uses it.
        assert all(c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) for c in kept)
    finally:
        server.shutdown()
        server.server_close()
    assert len(connections) == callers
