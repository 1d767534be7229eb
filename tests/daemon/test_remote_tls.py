"""Certificate pinning: a self-signed server works when pinned; a wrong pin is refused with a clear error."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from remote_support import running_server

from ferrysync.daemon.remote import (
    CertificateError,
    RemoteClient,
    fetch_certificate_sha256,
    normalize_fingerprint,
)


@dataclass
class TlsServer:
    url: str
    port: int
    fingerprint: str
    cert_path: Path


def make_self_signed(tmp: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ferry-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    fp = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_path, key_path, fp


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"ok": True, "version": "test"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    cert_path, key_path, fp = make_self_signed(tmp_path)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield TlsServer(f"https://127.0.0.1:{port}", int(port), fp, cert_path)
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


def test_pinned_self_signed_certificate_works_without_a_ca(tls_server: TlsServer) -> None:
    with RemoteClient(tls_server.url, pin_sha256=tls_server.fingerprint, retries=0) as client:
        assert client.health()["ok"] is True


def test_pin_in_colon_form_is_accepted(tls_server: TlsServer) -> None:
    fp = tls_server.fingerprint.upper()
    colon = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
    with RemoteClient(tls_server.url, pin_sha256=colon, retries=0) as client:
        assert client.health()["ok"] is True


def test_wrong_pin_is_refused_with_a_clear_error(tls_server: TlsServer) -> None:
    wrong = hashlib.sha256(b"another certificate").hexdigest()
    with RemoteClient(tls_server.url, pin_sha256=wrong, retries=3) as client, \
            pytest.raises(CertificateError) as info:
        client.health()
    assert info.value.code == "pin_mismatch"
    assert "does not match the pinned SHA-256 fingerprint" in str(info.value)


def test_unpinned_self_signed_certificate_is_refused_by_default(tls_server: TlsServer) -> None:
    with RemoteClient(tls_server.url, retries=3) as client, pytest.raises(CertificateError) as info:
        client.health()
    assert info.value.code == "tls"


def test_a_ca_bundle_can_be_given_instead_of_a_pin(tls_server: TlsServer) -> None:
    with RemoteClient(tls_server.url, verify=str(tls_server.cert_path), retries=0) as client:
        assert client.health()["ok"] is True


def test_real_ferry_server_over_https_with_a_pinned_certificate(tmp_path: Path) -> None:
    cert, key, fp = make_self_signed(tmp_path)
    data = tmp_path / "server-data"
    data.mkdir()
    with running_server(data, "--tls-cert", str(cert), "--tls-key", str(key)) as server:
        server.add_user("carol", "carol-pw")
        with RemoteClient(server.url, pin_sha256=fp, retries=0) as client:
            client.login("carol", "carol-pw", "laptop")
            assert client.account().user == "carol"
        with RemoteClient(server.url, retries=0) as unpinned, pytest.raises(CertificateError):
            unpinned.login("carol", "carol-pw", "laptop")


def test_fetch_fingerprint_for_trust_on_first_use(tls_server: TlsServer) -> None:
    assert fetch_certificate_sha256("127.0.0.1", tls_server.port) == tls_server.fingerprint


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 32, "00" * 20])
def test_malformed_pins_are_refused_early(bad: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        normalize_fingerprint(bad)
    with pytest.raises(ValueError, match="SHA-256"):
        RemoteClient("https://example.invalid", pin_sha256=bad)
