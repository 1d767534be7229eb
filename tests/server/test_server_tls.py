"""HTTPS served by ferry-server itself (--tls-cert/--tls-key), verified against a pinned self-signed certificate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from srvapi import Server


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    data = tmp_path / "data"
    server = Server(data, ["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https", verify=str(cert))
    server.start()
    try:
        assert requests.get(f"{server.url}/v1/health", verify=str(cert), timeout=10).json()["ok"] is True
        with pytest.raises(requests.exceptions.SSLError):  # an unpinned client refuses the self-signed cert
            requests.get(f"{server.url}/v1/health", timeout=10)
        assert f"listening on https://127.0.0.1:{server.port}" in server.log.read_text()
    finally:
        server.stop()
