"""`mds serve --tls-…`: mutual TLS refuses clients without a valid certificate, and the caller's
certificate subject reaches the request log."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e.conftest import free_port

MDS = [sys.executable, "-m", "mds"]

SIGNAL = {
    "event_id": "tls-evt-1",
    "source_system": "crm",
    "source_record_id": "tls-1",
    "event_type": "crm_import",
    "occurred_at": "2026-11-01T10:00:00Z",
    "attributes": {"given_name": "Ana", "email": "ana@example.com"},
}


@dataclass
class Pki:
    """A CA and what it issued, as PEM files."""

    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str) -> Pki:
        directory.mkdir(parents=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            _builder(subject, subject, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        pki = cls(directory, key, cert)
        pki.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pki

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(self, name: x509.Name, *, server: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = _builder(name, self.cert.subject, key).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        stem = name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        cert_file, key_file = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        return cert_file, key_file


def _builder(subject: x509.Name, issuer: x509.Name, key: Any) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Meetinity"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _context(
    ca: Path, client: tuple[Path, Path] | None = None, *, tls12: bool = False
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def _request(
    port: int, context: ssl.SSLContext, method: str = "GET", path: str = "/healthz", **kw: Any
) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    conn.request(method, path, **kw)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _refused(port: int, context: ssl.SSLContext) -> None:
    """The server must not answer: the handshake (TLS 1.2) or the first read (TLS 1.3, where the
    server checks the client's certificate after the client thinks it is done) fails."""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _request(port, context)


@pytest.mark.slow
def test_mtls_requires_a_client_certificate_from_the_ca_and_logs_it(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    pki = Pki.create(tmp_path / "pki", "MDS test CA")
    stranger_ca = Pki.create(tmp_path / "stranger", "Someone else's CA")
    server_cert, server_key = pki.issue(_name("mds.test"), server=True)
    client = pki.issue(_name("svc-billing"), server=False)
    impostor = stranger_ca.issue(_name("svc-billing-impostor"), server=False)

    port = free_port()
    env = {**cli_env, "MDS_PORT": str(port), "MDS_LOG_FORMAT": "json"}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *MDS,
                "serve",
                "--tls-cert",
                str(server_cert),
                "--tls-key",
                str(server_key),
                "--tls-client-ca",
                str(pki.ca_file),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        trusted = _context(pki.ca_file, client)
        _wait_ready(port, trusted, process, log_path)
        token = _issue_token(env)

        _refused(port, _context(pki.ca_file))
        _refused(port, _context(pki.ca_file, tls12=True))
        _refused(port, _context(pki.ca_file, impostor))
        _refused(port, _context(pki.ca_file, impostor, tls12=True))

        response = _request(
            port,
            trusted,
            "POST",
            "/v1/signals",
            body=json.dumps(SIGNAL),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status == 200
        assert _request(port, _context(pki.ca_file, client, tls12=True)).status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    posts = [e for e in lines if e.get("event") == "request" and e.get("path") == "/v1/signals"]
    assert len(posts) == 1, lines
    assert posts[0]["status"] == 200
    assert posts[0]["client_cert"] == "CN=svc-billing,O=Meetinity"
    assert posts[0]["subject"] == "billing-job"
    assert "impostor" not in log_path.read_text()


def _issue_token(env: dict[str, str]) -> str:
    result = subprocess.run(
        [*MDS, "token", "issue", "--scope", "mds:write", "--subject", "billing-job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def _wait_ready(
    port: int, context: ssl.SSLContext, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mds serve exited: {log.read_text()[-3000:]}")
        try:
            if _request(port, context, path="/readyz").status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise AssertionError("mds serve did not become ready")
