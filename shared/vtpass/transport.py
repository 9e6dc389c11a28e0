"""One HTTP exchange with VTPass: auth headers, timeouts, error mapping, a redacted record."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from shared.vtpass._parse import UNPARSEABLE, parse_json, redact
from shared.vtpass.deadline import DeadlinePassed, GatedAdapter, call_within
from shared.vtpass.errors import VTPassMaybeSent, VTPassNotSent, VTPassTransportError

__all__ = ["Answer", "ExchangeHook", "Transport", "transport_error"]

log = logging.getLogger(__name__)

ExchangeHook = Callable[[dict[str, Any]], None]

MASK = "***"
_MAX_LOGGED_BYTES = 2048


def transport_error(
    exc: requests.RequestException, *, prepared: bool = True
) -> VTPassTransportError:
    """Decide whether a failed exchange could have reached VTPass.

    ``prepared=False`` means the error came while building the request (bad URL,
    bad header, unencodable body): nothing was sent. Once the request was handed
    to the connection, only a connect that never completed proves nothing left:
    requests raises InvalidHeader, for one, both for our own headers and for a
    response with conflicting Content-Length values after VTPass had the pay.
    """
    name = type(exc).__name__
    if not prepared:
        return VTPassNotSent(f"request not sent: {name}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return VTPassNotSent(f"request not sent: {name}")
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc, (requests.exceptions.ProxyError, requests.exceptions.SSLError)
    ):
        # requests wraps refused connections and DNS failures as
        # ConnectionError(MaxRetryError(reason=NewConnectionError)); a reset
        # after sending arrives as ConnectionError(ProtocolError) instead.
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, NewConnectionError):
            return VTPassNotSent(f"could not connect: {name}")
    # Read timeouts, resets, broken chunked bodies, bad response headers, TLS and
    # proxy trouble: the bytes may have reached VTPass, so nobody may assume they
    # did not.
    return VTPassMaybeSent(f"no complete answer: {name}")


# TCP keepalive on every connection to VTPass: an idle pooled connection that a firewall or
# NAT would drop silently is kept open, or seen dead and replaced, instead of a pay being
# written into it and its answer lost ("maybe sent": a requery, a slower path).
_KEEPALIVE = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    *(
        (socket.IPPROTO_TCP, getattr(socket, name), value)
        for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
        if hasattr(socket, name)
    ),
]


class _PooledAdapter(GatedAdapter):
    """The gated adapter with keepalive on its sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("socket_options", [*HTTPConnection.default_socket_options, *_KEEPALIVE])
        super().init_poolmanager(*args, **kwargs)


def _gated_session(connections: int) -> requests.Session:
    session = requests.Session()
    for prefix in ("http://", "https://"):
        # Only requests' own default adapters are replaced by gated ones. Each keeps up to
        # `connections` open per host, so a call finds a kept-alive one rather than paying a
        # new connection (and a TLS handshake) whenever more than urllib3's default 10 run.
        if type(session.adapters.get(prefix)) is requests.adapters.HTTPAdapter:
            session.mount(prefix, _PooledAdapter(pool_maxsize=connections))
    return session


@dataclass(frozen=True)
class Answer:
    """An HTTP answer with our keys already masked out of the body."""

    http_status: int
    body: bytes


class Transport:
    """Send requests to VTPass over one long-lived session."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        public_key: str,
        secret_key: str,
        timeout: tuple[float, float],
        session: requests.Session | None,
        on_exchange: ExchangeHook | None,
        deadline: float | None = None,
        connections: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key
        self._public_key = public_key
        self._secret_key = secret_key
        self.timeout = timeout
        # The whole call's wall-clock bound (deadline.py); read timeouts bound each read only.
        self.deadline = deadline if deadline is not None else sum(timeout)
        self._owns_session = session is None
        self._session = session if session is not None else _gated_session(connections)
        self._on_exchange = on_exchange
        # requests reads the proxy and CA settings from the environment on every call (a walk
        # over os.environ, ~5% of a settle's CPU); they are read once per host instead.
        self._environment: dict[str, dict[str, Any]] = {}

    def masked_base_url(self) -> str:
        """Return the base URL with any user:password replaced by a mask."""
        parts = urlsplit(self.base_url)
        if not (parts.username or parts.password):
            return self.base_url
        # The older HTTP Basic scheme puts credentials in the URL.
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.hostname or ''}{port}"))

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self._session.close()

    def exchange(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one request; raise VTPassNotSent or VTPassMaybeSent if no answer came."""
        record: dict[str, Any] = {
            "method": method,
            "endpoint": endpoint,
            "request": redact(dict(payload if payload is not None else params or {})),
            "http_status": None,
            "response": None,
            "duration_ms": 0,
            "error": None,
        }
        started = time.monotonic()
        prepared = False
        try:
            # Build the request first: anything raised here (a bad header, URL
            # or body) is raised before a byte leaves. Whatever send() raises
            # may have come after VTPass had the request.
            request = self._session.prepare_request(
                requests.Request(
                    method,
                    self.base_url + endpoint,
                    params=params,
                    json=payload,
                    headers=self._headers(method),
                )
            )
            settings = self._environment_settings(request.url or "")
            # Only our own gated connections, straight to VTPass, prove a late send impossible.
            guarded = isinstance(
                self._session.get_adapter(request.url or ""), GatedAdapter
            ) and not settings.get("proxies")
            prepared = True

            def send() -> requests.Response:
                return self._session.send(
                    request,
                    timeout=self.timeout,
                    # A redirect could carry our key headers to another host and
                    # turn a POST into a GET; VTPass has no reason to redirect.
                    allow_redirects=False,
                    **settings,
                )

            response = call_within(self.deadline, send, guarded=guarded)
        except requests.RequestException as exc:
            error = transport_error(exc, prepared=prepared)
            record["error"] = f"{type(error).__name__}: {type(exc).__name__}"
            self._emit(record, started)
            raise error from exc
        except DeadlinePassed as exc:
            late: VTPassTransportError = (
                VTPassMaybeSent(str(exc)) if exc.sent else VTPassNotSent(str(exc))
            )
            record["error"] = f"{type(late).__name__}: {type(exc).__name__}"
            self._emit(record, started)
            raise late from exc
        answer = Answer(http_status=response.status_code, body=self._scrub(response.content))
        parsed = parse_json(answer.body)
        record["http_status"] = answer.http_status
        record["response"] = (
            redact(parsed)
            if parsed is not UNPARSEABLE
            else answer.body[:_MAX_LOGGED_BYTES].decode("utf-8", errors="replace")
        )
        self._emit(record, started)
        return answer

    def _environment_settings(self, url: str) -> dict[str, Any]:
        """requests' proxies/verify/cert for `url`, from the environment as first seen."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        settings = self._environment.get(host)
        if settings is None:
            settings = self._session.merge_environment_settings(url, {}, None, None, None)
            self._environment[host] = settings
        return settings

    def _headers(self, method: str) -> dict[str, str]:
        # VTPass pairs the api-key with the public key for reads and the secret
        # key for writes; the secret key never travels where it is not needed.
        if method == "GET":
            return {
                "api-key": self._api_key,
                "public-key": self._public_key,
                "Accept": "application/json",
            }
        return {
            "api-key": self._api_key,
            "secret-key": self._secret_key,
            "Accept": "application/json",
        }

    def _scrub(self, body: bytes | None) -> bytes:
        """Mask our keys in a body, in case something echoed our headers back."""
        body = body or b""
        for key in (self._api_key, self._public_key, self._secret_key):
            if len(key) >= 4:
                body = body.replace(key.encode(), MASK.encode())
        return body

    def _emit(self, record: dict[str, Any], started: float) -> None:
        record["duration_ms"] = round((time.monotonic() - started) * 1000)
        if self._on_exchange is None:
            return
        try:
            self._on_exchange(record)
        except Exception:
            # The audit hook must never turn a known VTPass answer into an
            # exception: the caller would lose the outcome of a paid purchase.
            log.exception("VTPass on_exchange hook failed for %s", record["endpoint"])
