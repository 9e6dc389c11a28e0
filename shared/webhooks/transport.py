"""The HTTP session webhook deliveries go through: every connection pinned to a checked address.

`requests` would resolve the hostname again when it connects, after our check, and a hostile
DNS server can answer differently the second time. The adapter below runs the SSRF guard
(`ssrf.pin`) when it picks a connection and connects to the address the guard approved, while
the Host header, TLS SNI and certificate check keep using the hostname. Its connections
register with the attempt's wall-clock deadline (`deadline.py`).
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool

from shared.webhooks import ssrf
from shared.webhooks.deadline import DeadlineHTTPConnection, DeadlineHTTPSConnection


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


class PinnedAddressAdapter(HTTPAdapter):
    """Connect to the address `ssrf.pin` approved for each request, never re-resolving it."""

    def __init__(self, *, allow_private: bool, resolver: ssrf.Resolver | None = None) -> None:
        super().__init__()
        self.allow_private = allow_private
        self.resolver = resolver

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with connections the attempt's deadline can cut."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: Any = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        """Check the request's URL, then return a pool connected to the checked address."""
        target = ssrf.pin(
            request.url or "", allow_private=self.allow_private, resolver=self.resolver
        )
        _, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if target.scheme == "https":
            # TLS still speaks to the hostname: SNI and the certificate check use it, not the IP.
            pool_kwargs = {
                **pool_kwargs,
                "server_hostname": target.hostname,
                "assert_hostname": target.hostname,
            }
        request.headers["Host"] = target.host_header
        # Pools are keyed by (address, hostname), so threads never share a mutable setting.
        return self.poolmanager.connection_from_host(
            host=target.ip, port=target.port, scheme=target.scheme, pool_kwargs=pool_kwargs
        )


def webhook_session(
    *, allow_private: bool, resolver: ssrf.Resolver | None = None
) -> requests.Session:
    """Build the long-lived session deliveries use (one per worker process)."""
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would connect by name, unchecked.
    session.trust_env = False
    # Receivers' cookies must never travel to another user's endpoint on the same host.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = PinnedAddressAdapter(allow_private=allow_private, resolver=resolver)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
    return session
