"""A wall-clock deadline for one webhook attempt: connect, TLS, request, headers and body.

`requests` timeouts bound each socket operation, not the attempt: a receiver that sends one
byte every few seconds keeps a worker thread for hours. Every connection a delivery opens
registers a duplicate of its socket here under the attempt's deadline; one watchdog thread
per process shuts the socket down when the deadline passes, so whatever call is blocked on it
returns at once with an error. `shutdown(2)` acts on the socket, not the descriptor, so the
duplicate reaches the TLS socket that later wraps the same connection too.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator

from urllib3.connection import HTTPConnection, HTTPSConnection

_current = threading.local()


class _Watchdog:
    """Shut down registered sockets whose deadline has passed (one daemon thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), sock))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="webhook-deadline", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, sock = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                # Under the lock, so the attempt cannot close (and the OS reuse) it meanwhile.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def release(self, sock: socket.socket) -> None:
        with self._cond:
            sock.close()


_watchdog = _Watchdog()


@contextlib.contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Bound every connection opened inside the block to `seconds` from now, in all."""
    _current.deadline = time.monotonic() + seconds
    _current.sockets = []
    try:
        yield
    finally:
        for sock in _current.sockets:
            # Closing the duplicate leaves the connection itself alone.
            _watchdog.release(sock)
        _current.deadline, _current.sockets = None, []


def expired() -> bool:
    """Say whether the current attempt's deadline has passed."""
    deadline = getattr(_current, "deadline", None)
    return deadline is not None and time.monotonic() >= deadline


def _register(sock: socket.socket) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is None:
        return
    watched = sock.dup()
    _current.sockets.append(watched)
    _watchdog.watch(watched, deadline)


class DeadlineHTTPConnection(HTTPConnection):
    """A plain connection whose socket the current attempt's deadline can cut."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock


class DeadlineHTTPSConnection(HTTPSConnection):
    """A TLS connection whose socket (handshake included) the attempt's deadline can cut."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock
