"""A wall-clock deadline for one VTPass exchange, and a gate that stops a late send.

`requests` timeouts bound each socket operation, not the call: a server trickling one byte
per read keeps a call alive indefinitely, and name resolution has no bound at all. A call
stalled past the processing lease could still send a pay after the sweeper had moved the
purchase on. So each exchange runs in a thread of its own and the caller waits for it only
until the deadline. Then it abandons the call through a gate that every request byte passes:
- if no request byte had left, the gate now refuses them for good: the call provably never
  sent (the thread may still be resolving a name; it can connect, but not send);
- if bytes had left, the outcome is unknown, the socket is reset (queued bytes dropped) so
  the thread ends, and the gate refuses any later byte all the same.
The gate sits in the HTTP connection's `send` (`GatedAdapter` mounts such connections, for
direct and HTTP(S)-proxied calls), so resolving, connecting and the TLS handshake happen
before it and no request byte after it. A proxied call still counts as unknown, never as
never sent. A connection is the call's to shut only until it goes back to its pool.
"""

from __future__ import annotations

import contextvars
import socket
import struct
import threading
from collections.abc import Callable
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


class _Gate:
    """The one decision, under a lock, between a first send and the caller giving up.

    Once the caller has given up, no request byte passes the gate again, whether or not
    some had left before: a call whose thread was still resolving or connecting (through a
    proxy, say) cannot send a pay later. Whether the caller may count the call as never sent
    is a separate question: only a guarded call (GatedAdapter, straight to VTPass) that had
    sent nothing can.
    """

    def __init__(self, *, guarded: bool) -> None:
        self._lock = threading.Lock()
        # An unguarded call (a proxy, or a session without GatedAdapter) might have sent
        # anywhere, any time: it never counts as never sent.
        self._guarded = guarded
        self._sent = False
        self._abandoned = False
        # Its connection went back to the pool after it sent: the answer was read whole.
        self.answered = False
        # The connection now carrying this call's bytes, until it goes back to its pool.
        self._conn: HTTPConnection | None = None

    def enter(self, conn: HTTPConnection) -> None:
        """Let request bytes out on `conn`, unless the caller has already given up."""
        with self._lock:
            if self._abandoned:
                raise Abandoned("the caller's deadline passed; nothing more may leave")
            self._sent = True
            self._conn = conn
            conn._paylink_gate = self  # type: ignore[attr-defined]

    def release(self, conn: HTTPConnection) -> None:
        """`conn` goes back to its pool: another call may use it, so never shut it now."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self.answered = True
            if getattr(conn, "_paylink_gate", None) is self:
                conn._paylink_gate = None  # type: ignore[attr-defined]

    def finish(self) -> None:
        """The call ended: forget its connection."""
        with self._lock:
            self._conn = None

    def abandon(self) -> bool:
        """Give up on the call; return True if it provably never sent anything."""
        with self._lock:
            self._abandoned = True
            if self._guarded and not self._sent:
                return True
            conn = self._conn
            sock = conn.sock if conn is not None else None
            if sock is not None:
                _drop(sock)
        return False


def _drop(sock: socket.socket) -> None:
    """End a socket another thread is using: what is still queued is discarded, not sent."""
    try:
        # Linger 0: the close that follows (by the call's thread, once shutdown wakes it)
        # resets the connection and drops queued bytes instead of sending them after a FIN.
        socket.socket.setsockopt(sock, socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        # The plain socket call, even under TLS: the thread reading it just ends.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass  # already closed, or not a plain socket: its own timeouts end it


_NO_LINGER = struct.pack("ii", 1, 0)


_current = threading.local()
# How long a caller waits, past the deadline, for a call whose answer was already read whole.
_ANSWERED_GRACE_S = 1.0


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
        if gate.answered:
            # The answer was read whole just before the deadline and the thread is only
            # handing it back; nothing more can leave (the gate is shut): let it finish.
            done.wait(_ANSWERED_GRACE_S)
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
        gate.enter(conn)


def _release(conn: HTTPConnection | None) -> None:
    gate = getattr(conn, "_paylink_gate", None)
    if gate is not None and conn is not None:
        gate.release(conn)


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

    def _put_conn(self, conn: Any) -> None:
        # Back in the pool, the connection is no longer this call's to shut.
        _release(conn)
        super()._put_conn(conn)


class _GatedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GatedHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        _release(conn)
        super()._put_conn(conn)


_GATED_POOLS = {"http": _GatedHTTPPool, "https": _GatedHTTPSPool}


class GatedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections pass the calling thread's deadline gate."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GATED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Connections through an HTTP(S) proxy pass the gate too, so an abandoned proxied
        call's socket is shut and its thread cannot send later. (Still never "never sent":
        the proxy may have taken bytes we cannot see, e.g. a CONNECT.) SOCKS proxies keep
        their own connection classes and are not gated."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_GATED_POOLS)
        return manager
