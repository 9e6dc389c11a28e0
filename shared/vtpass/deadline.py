"""A wall-clock deadline for one VTPass exchange, and a gate that stops a late send.

`requests` timeouts bound each socket operation, not the call: a server trickling one byte
per read keeps a call alive indefinitely, and name resolution has no bound at all. A call
stalled past the processing lease could still send a pay after the sweeper had moved the
purchase on. So each exchange runs in a thread of its own and the caller waits for it only
until the deadline. Then it abandons the call through a gate that every request byte passes:
- if no request byte had left, the gate now refuses them for good: the call provably never
  sent (the thread may still be resolving a name; it can connect, but not send);
- if bytes had left, the outcome is unknown, and the socket is shut so the thread ends.
The gate sits in the HTTP connection's `send` (`GatedAdapter` mounts such connections), so
resolving, connecting and the TLS handshake happen before it and no request byte after it.
"""

from __future__ import annotations

import contextvars
import socket
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Abandoned", "DeadlinePassed", "GatedAdapter", "call_within"]

T = TypeVar("T")


class DeadlinePassed(Exception):
    """The call did not end within its deadline; `sent` says whether a request byte left."""

    def __init__(self, deadline: float, *, sent: bool) -> None:
        self.deadline = deadline
        self.sent = sent
        what = "no complete answer" if sent else "the request never left"
        super().__init__(f"{what} within the {deadline:g} s deadline")


class Abandoned(Exception):
    """Raised in an abandoned call's thread where it would have sent: nothing leaves."""


class _State(Enum):
    WAITING = "waiting"  # nothing has been sent
    SENDING = "sending"  # request bytes may have left
    ABANDONED = "abandoned"  # the caller gave up before anything left; nothing ever will


class _Gate:
    """The one decision, under a lock, between a first send and the caller giving up."""

    def __init__(self, *, guarded: bool) -> None:
        self._lock = threading.Lock()
        # An unguarded call (a session without GatedAdapter) might send anywhere, any time.
        self._state = _State.WAITING if guarded else _State.SENDING
        self._socket: socket.socket | None = None

    def enter(self, sock: socket.socket | None) -> None:
        """Let request bytes out on `sock`, unless the caller has already given up."""
        with self._lock:
            if self._state is _State.ABANDONED:
                raise Abandoned("the caller's deadline passed before the request left")
            self._state = _State.SENDING
            self._socket = sock

    def finish(self) -> None:
        """The call ended: its connection may serve another call now, so never shut it."""
        with self._lock:
            self._socket = None

    def abandon(self) -> bool:
        """Give up on the call; return True if it provably never sent anything."""
        with self._lock:
            if self._state is _State.WAITING:
                self._state = _State.ABANDONED
                return True
            sock = self._socket
        if sock is not None:
            try:
                # The plain socket call, even under TLS: the thread reading it just ends.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass  # already closed, or not a plain socket: its own timeouts end it
        return False


_current = threading.local()


def call_within(deadline: float, call: Callable[[], T], *, guarded: bool) -> T:
    """Run `call` in its own thread; raise DeadlinePassed if it has not ended by `deadline`.

    `guarded` says the call's connections pass GatedAdapter's gate; only then can a call
    abandoned at its deadline count as never sent.
    """
    gate = _Gate(guarded=guarded)
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        _current.gate = gate
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises
            result["error"] = exc
        finally:
            gate.finish()
            done.set()

    # In a copy of the caller's context: its log fields and its trace span go along.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name="vtpass-call", daemon=True).start()
    if not done.wait(deadline):
        never_sent = gate.abandon()
        # An answer that came whole just as the deadline passed still counts; an error now
        # may only be the socket that abandon() shut.
        if never_sent or not done.is_set() or "value" not in result:
            raise DeadlinePassed(deadline, sent=not never_sent)
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def _pass_gate(conn: HTTPConnection) -> None:
    gate = getattr(_current, "gate", None)
    if gate is not None:
        gate.enter(conn.sock)


class _GatedHTTPConnection(HTTPConnection):
    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()  # resolve and connect first: nothing of the request leaves here
        _pass_gate(self)
        super().send(data)


class _GatedHTTPSConnection(HTTPSConnection):
    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()
        _pass_gate(self)
        super().send(data)


class _GatedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GatedHTTPConnection


class _GatedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GatedHTTPSConnection


_GATED_POOLS = {"http": _GatedHTTPPool, "https": _GatedHTTPSPool}


class GatedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections pass the calling thread's deadline gate."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GATED_POOLS)
