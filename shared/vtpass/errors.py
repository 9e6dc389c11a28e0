"""Exceptions raised by the VTPass client.

The tree (``requests`` exceptions never escape the client; they are re-raised
as one of these with ``from e``)::

    VTPassError                      code / description where VTPass gave them
    ├── VTPassTransportError         no usable HTTP answer at all
    │   ├── VTPassNotSent            connect refused, DNS failure, connect timeout:
    │   │                            the request provably never reached VTPass
    │   └── VTPassMaybeSent          read timeout, reset/dropped after sending,
    │                                chunked or protocol error: it may have arrived
    ├── VTPassResponseError          an answer we cannot trust: 5xx, 3xx, empty,
    │                                HTML or non-JSON body, or VTPass saying it is busy
    ├── VTPassAuthError              087, 021-024, 027, 028, HTTP 401/403:
    │                                configuration is wrong, alert the operator
    └── VTPassRejected               a definite business rejection from VTPass
        └── CustomerNotFound         verify found no such meter/smartcard/profile

``pay`` and ``requery`` never raise these for transport or response trouble;
they return an ``Outcome`` (see ``outcome.py``). Verify and catalog calls raise.
No exception ever carries an API key, public key or secret key: keys travel in
headers, and headers are never put into an exception.
"""

from __future__ import annotations

__all__ = [
    "CustomerNotFound",
    "VTPassAuthError",
    "VTPassError",
    "VTPassMaybeSent",
    "VTPassNotSent",
    "VTPassRejected",
    "VTPassResponseError",
    "VTPassTransportError",
]


class VTPassError(Exception):
    """Base of every error the VTPass client raises."""

    def __init__(
        self,
        description: str = "",
        *,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.http_status = http_status
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"[{self.code}]" if self.code else "", self.description]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        return " ".join(p for p in parts if p) or type(self).__name__


class VTPassTransportError(VTPassError):
    """No usable HTTP answer came back."""


class VTPassNotSent(VTPassTransportError):
    """The request provably never reached VTPass; sending it again is safe."""


class VTPassMaybeSent(VTPassTransportError):
    """The request may have reached VTPass; the outcome is unknown."""


class VTPassResponseError(VTPassError):
    """VTPass (or something in front of it) answered with nothing we can trust."""


class VTPassAuthError(VTPassError):
    """Credentials, IP or product whitelisting are wrong; an operator must act."""


class VTPassRejected(VTPassError):
    """VTPass gave a definite business rejection."""


class CustomerNotFound(VTPassRejected):
    """VTPass does not know this meter, smartcard, profile or account."""
