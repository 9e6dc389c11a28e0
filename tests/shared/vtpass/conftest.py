"""A fake requests transport so the VTPass client is tested without any network."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from shared.vtpass import VTPassClient

API_KEY = "ak_test_0123456789abcdef"
PUBLIC_KEY = "PK_test_public_0123456789"
SECRET_KEY = "SK_test_secret_0123456789"
BASE_URL = "https://sandbox.vtpass.com/api"
# urllib3 exceptions name the connection or pool; the client never looks at it.
NO_CONN: Any = None


class FakeAdapter(BaseAdapter):
    """Answer each request with the next canned response or exception, and record it."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[Callable[[requests.PreparedRequest], requests.Response]] = []
        self.sent: list[requests.PreparedRequest] = []
        self.send_kwargs: list[dict[str, Any]] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        kwargs = {"stream": stream, "timeout": timeout, "verify": verify, "proxies": proxies}
        self.sent.append(request)
        self.send_kwargs.append(kwargs)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        return self.replies.pop(0)(request)

    def close(self) -> None:
        pass

    # -- canned answers --------------------------------------------------------

    def reply(self, body: bytes | str, status: int = 200, **headers: str) -> None:
        raw = body.encode() if isinstance(body, str) else body

        def answer(request: requests.PreparedRequest) -> requests.Response:
            response = requests.Response()
            response.status_code = status
            response._content = raw
            response.headers.update(headers)
            response.request = request
            response.url = request.url or ""
            response.encoding = "utf-8"
            return response

        self.replies.append(answer)

    def reply_json(self, body: Any, status: int = 200) -> None:
        self.reply(json.dumps(body), status, **{"Content-Type": "application/json"})

    def fail(self, exc: BaseException) -> None:
        def answer(request: requests.PreparedRequest) -> requests.Response:
            raise exc

        self.replies.append(answer)

    # The shapes below are what requests really raises (checked against
    # requests 2.34 / urllib3 2.x with local sockets).

    def fail_refused(self) -> None:
        reason = NewConnectionError(NO_CONN, "[Errno 111] Connection refused")
        self.fail(requests.exceptions.ConnectionError(MaxRetryError(NO_CONN, "/pay", reason)))

    def fail_dns(self) -> None:
        reason = NameResolutionError(
            "sandbox.vtpass.com", NO_CONN, socket.gaierror(-2, "Name or service not known")
        )
        self.fail(requests.exceptions.ConnectionError(MaxRetryError(NO_CONN, "/pay", reason)))

    def fail_connect_timeout(self) -> None:
        self.fail(requests.exceptions.ConnectTimeout("connect timed out"))

    def fail_read_timeout(self) -> None:
        self.fail(requests.exceptions.ReadTimeout("read timed out"))

    def fail_reset(self) -> None:
        cause = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
        self.fail(requests.exceptions.ConnectionError(cause))

    def fail_chunked(self) -> None:
        cause = ProtocolError("Response ended prematurely")
        self.fail(requests.exceptions.ChunkedEncodingError(cause))

    # -- what was sent -----------------------------------------------------------

    def last_json(self) -> Mapping[str, Any]:
        body = self.sent[-1].body
        assert isinstance(body, (bytes, str))
        return json.loads(body)


@dataclass(frozen=True)
class Keys:
    api: str = API_KEY
    public: str = PUBLIC_KEY
    secret: str = SECRET_KEY

    def all(self) -> tuple[str, str, str]:
        return (self.api, self.public, self.secret)


@pytest.fixture
def keys() -> Keys:
    """Return the credentials the `client` fixture was built with."""
    return Keys()


@pytest.fixture
def fake() -> FakeAdapter:
    """Return a fake transport with no canned answers yet."""
    return FakeAdapter()


@pytest.fixture
def exchanges() -> list[dict[str, Any]]:
    """Collect the records the client hands to its on_exchange hook."""
    return []


@pytest.fixture
def client(fake: FakeAdapter, exchanges: list[dict[str, Any]]) -> VTPassClient:
    """Return a VTPass client whose session talks only to the fake transport."""
    session = requests.Session()
    session.mount("https://", fake)
    session.mount("http://", fake)
    return VTPassClient(
        base_url=BASE_URL,
        api_key=API_KEY,
        public_key=PUBLIC_KEY,
        secret_key=SECRET_KEY,
        connect_timeout=3.5,
        read_timeout=27.0,
        session=session,
        on_exchange=exchanges.append,
    )
