"""The SSRF guard: address classes, URL form, one resolution, and connections to that address.

No network: addresses are literals, hostnames go through a fake resolver, and the adapter is
exercised against HTTP and HTTPS servers on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from shared.webhooks import ssrf
from shared.webhooks.ssrf import Target, UnsafeURL, check_endpoint_url, check_url, is_public, pin
from shared.webhooks.transport import webhook_session

NOT_PUBLIC = [
    # IPv4: this network, private, CGNAT, loopback, link-local (cloud metadata), special
    # purpose, documentation, benchmarking, multicast, reserved, broadcast.
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
    "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1",
    "172.31.255.255", "192.0.0.1", "192.0.0.171", "192.0.2.1", "192.88.99.1", "192.168.0.1",
    "192.168.255.255", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "250.1.2.3", "255.255.255.255",
    # IPv6: unspecified, loopback, unique local, link-local (with and without a zone),
    # site-local, multicast, discard, documentation, IETF assignments (Teredo), SRv6.
    "::", "::1", "fc00::1", "fd12:3456:789a::1", "fe80::1", "fe80::1%eth0", "fec0::1",
    "ff02::1", "ff0e::1", "100::1", "2001:db8::1", "3fff::1", "2001::1", "2001:0:4136::1",
    "5f00::1", "64:ff9b:1::1",
    # IPv4 hidden in IPv6: mapped, compatible, 6to4, NAT64.
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
    "::ffff:100.64.0.1", "::127.0.0.1", "::10.0.0.1", "::0.0.0.2", "2002:7f00:1::1",
    "2002:a9fe:a9fe::", "2002:c0a8:101::", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
]  # fmt: skip

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "11.0.0.1", "100.63.255.255", "100.128.0.0",
    "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "198.20.0.0",
    "223.255.255.254", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1",
    "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://hooks.example.com/x", "must use https"),
        ("hooks.example.com/x", "must use https"),
        ("https://user:pass@hooks.example.com/x", "credentials"),
        ("https://token@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com\\@evil.example/x", "credentials"),
        ("https:///x", "must name a host"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
        ("https://hooks.example.com:0/x", "port 0"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\x00", "control"),
        ("https://hooks.example.com/" + "a" * 2100, "at most"),
    ],
)
def test_bad_url_forms_are_refused(url, problem):
    with pytest.raises(UnsafeURL, match=problem):
        check_url(url, allow_private=False)


def test_development_allows_http_but_still_no_credentials():
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True).port == 8080
    with pytest.raises(UnsafeURL, match="credentials"):
        check_url("http://user:pw@127.0.0.1/hook", allow_private=True)
    with pytest.raises(UnsafeURL, match="must use https or http"):
        check_url("gopher://127.0.0.1/", allow_private=True)


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> ssrf.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise UnsafeURL(f"the host {host!r} does not resolve")
        return table[host]

    return resolve


def test_pin_returns_the_checked_address_and_keeps_the_hostname():
    resolver = fake_resolver({"hooks.example.com": ["93.184.216.34", "2606:4700::1"]})
    target = pin("https://hooks.example.com/x?y=1", allow_private=False, resolver=resolver)
    assert target == Target("https", "hooks.example.com", 443, "93.184.216.34")
    assert target.host_header == "hooks.example.com"


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["93.184.216.34", "10.0.0.5"], ["::ffff:169.254.169.254"], ["100.64.1.1"]],
)
def test_a_name_resolving_to_any_non_public_address_is_refused(addresses):
    resolver = fake_resolver({"rebind.example.com": addresses})
    with pytest.raises(UnsafeURL, match="non-public"):
        pin("https://rebind.example.com/", allow_private=False, resolver=resolver)


def test_unresolvable_or_empty_names_are_refused():
    with pytest.raises(UnsafeURL, match="does not resolve"):
        pin("https://nowhere.example.com/", allow_private=False, resolver=fake_resolver({}))
    empty = fake_resolver({"empty.example.com": []})
    with pytest.raises(UnsafeURL, match="does not resolve"):
        pin("https://empty.example.com/", allow_private=False, resolver=empty)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://0.0.0.0:8443/",
        "https://[::ffff:127.0.0.1]/",
        "https://10.1.2.3/",
    ],
)
def test_literal_private_addresses_are_refused_with_the_system_resolver(url):
    with pytest.raises(UnsafeURL, match="non-public"):
        pin(url, allow_private=False)


def test_registration_uses_the_resolver(monkeypatch):
    table = {"public.example.com": ["93.184.216.34"], "internal.example.com": ["10.0.0.7"]}
    monkeypatch.setattr(ssrf, "system_resolver", fake_resolver(table))
    assert check_endpoint_url("https://public.example.com/h", allow_private=False)
    with pytest.raises(UnsafeURL, match="non-public"):
        check_endpoint_url("https://internal.example.com/h", allow_private=False)
    # Development skips resolution: the receiver may not be up yet.
    assert check_endpoint_url("http://not-up-yet.internal:9000/", allow_private=True)


def test_host_header_shows_non_default_ports_and_brackets_ipv6():
    assert Target("https", "h.example", 8443, "93.184.216.34").host_header == "h.example:8443"
    assert Target("http", "h.example", 80, "93.184.216.34").host_header == "h.example"
    assert Target("https", "2606:4700::1", 443, "2606:4700::1").host_header == "[2606:4700::1]"


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sni = getattr(self.connection, "sni", None)
        self.seen.append({"host": self.headers["Host"], "sni": sni})
        self.send_response(200)
        self.send_header("Set-Cookie", "session=receiver-secret")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_adapter_connects_to_the_pinned_address_with_the_hostname_as_host(http_server):
    port = http_server.server_address[1]
    calls: list[str] = []
    # The name exists only in the fake resolver: reaching the server proves nothing re-resolved it.
    resolver = fake_resolver({"hooks.example.test": ["127.0.0.1"]}, calls)
    session = webhook_session(allow_private=True, resolver=resolver)
    for _ in range(2):
        response = session.post(f"http://hooks.example.test:{port}/h", data=b"{}", timeout=(3, 10))
        assert response.status_code == 200
    assert Recorder.seen == [{"host": f"hooks.example.test:{port}", "sni": None}] * 2
    assert calls == ["hooks.example.test"] * 2, "resolved (and checked) once per request"
    assert not session.cookies, "receiver cookies are never kept"


def test_adapter_refuses_before_connecting_when_the_address_is_private(http_server):
    port = http_server.server_address[1]
    session = webhook_session(
        allow_private=False, resolver=fake_resolver({"hooks.example.test": ["127.0.0.1"]})
    )
    with pytest.raises(UnsafeURL, match="non-public"):
        session.post(f"https://hooks.example.test:{port}/h", data=b"{}", timeout=(3, 10))
    assert Recorder.seen == []


def make_certificates(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a certificate for `hostname` it signed (with the openssl CLI)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    leaf, leaf_key, csr = directory / "leaf.pem", directory / "leaf.key", directory / "leaf.csr"
    extensions = directory / "leaf.ext"
    extensions.write_text(
        f"subjectAltName=DNS:{hostname}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=test ca"],
        ["req", *ec, "-keyout", leaf_key, "-out", csr, "-subj", f"/CN={hostname}"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", leaf, "-days", "1", "-extfile", extensions],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, leaf, leaf_key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_https_keeps_sni_and_certificate_checks_on_the_hostname(tmp_path, http_server):
    ca, cert, key = make_certificates(tmp_path, "hooks.example.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        sock.sni = server_name  # type: ignore[attr-defined]

    context.sni_callback = remember_sni  # type: ignore[assignment]
    http_server.socket = context.wrap_socket(http_server.socket, server_side=True)
    port = http_server.server_address[1]
    table = {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    session = webhook_session(allow_private=True, resolver=fake_resolver(table))

    response = session.post(
        f"https://hooks.example.test:{port}/h", data=b"{}", timeout=(3, 10), verify=str(ca)
    )
    assert response.status_code == 200
    assert Recorder.seen == [{"host": f"hooks.example.test:{port}", "sni": "hooks.example.test"}]
    # Same address, but a name the certificate does not cover: TLS must refuse it.
    with pytest.raises(requests.exceptions.SSLError):
        session.post(
            f"https://other.example.test:{port}/h", data=b"{}", timeout=(3, 10), verify=str(ca)
        )
