"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that checks signatures.

Every request is verified with `standardwebhooks.Webhook(secret).verify(body, headers)` for
each secret the test expects, the way a client's backend would. `answer(n)` decides what
the n-th request (0-based) gets: a status, and optionally a delay before it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: dict[str, Any]  # secret -> payload, or the verification error
    answered: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def payload(self, secret: str) -> dict[str, Any]:
        """Return the payload verified with `secret`, failing the test if it did not verify."""
        result = self.verified[secret]
        assert isinstance(result, dict), f"signature did not verify with this secret: {result!r}"
        return result


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    answer: Callable[[int], tuple[int, float]] = lambda n: (200, 0.0)
    port: int = 0
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    number = receiver._count
                    receiver._count += 1
                    receiver.in_flight += 1
                status, delay = receiver.answer(number)
                if delay:
                    time.sleep(delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = {s: _verify(s, body, headers) for s in receiver.secrets}
                with receiver._lock:
                    receiver.in_flight -= 1
                    receiver.received.append(Received(self.path, headers, body, verified, status))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/moved")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def by_path(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]


def free_port() -> int:
    """Return a port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    try:
        return Webhook(secret).verify(body, headers)
    except Exception as e:  # noqa: BLE001 - the test asserts on what went wrong
        return e


@dataclass
class Trickler:
    """A hostile receiver: it reads the request, then sends a header byte every `interval` s.

    Each byte arrives well within any per-read timeout, so only a deadline on the whole attempt
    ends the exchange. `open` counts the connections held right now, `most_open` the most ever.
    """

    interval: float = 0.2
    port: int = 0
    accepted: int = 0
    open: int = 0
    most_open: int = 0
    sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Trickler:
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with self._lock:
            self.accepted += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            conn.settimeout(5)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self._stop.wait(self.interval):
                conn.sendall(b"a")
                with self._lock:
                    self.sent += 1
        except OSError:
            pass  # the sender hung up: what a deadline is for
        finally:
            conn.close()
            with self._lock:
                self.open -= 1
