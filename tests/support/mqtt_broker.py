"""A real MQTT broker for tests: Debian's mosquitto on loopback, mutual TLS with a test CA."""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class BrokerPki:
    ca: Path
    directory: Path
    _ca_cert: x509.Certificate
    _ca_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, directory: Path) -> BrokerPki:
        key = _key()
        cert = _cert("imgrec test CA", key, None, ca=True)
        ca = directory / "ca.pem"
        ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(ca, directory, cert, key)

    def issue(self, name: str, *, server: bool = False) -> tuple[Path, Path]:
        key = _key()
        cert = _cert(name, key, (self._ca_cert, self._ca_key), server=server)
        cert_path = self.directory / f"{name}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, _write_key(key, self.directory / f"{name}.key")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """mosquitto with TLS on 127.0.0.1:<port>, client certificates required."""

    def __init__(self, pki: BrokerPki, port: int) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(
                "mosquitto is not installed: 'apt-get install mosquitto' (.ci/run does it)"
            )
        self.port = port
        cert, key = pki.issue("localhost", server=True)
        self.config = pki.directory / f"mosquitto-{port}.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\n"
            f"cafile {pki.ca}\ncertfile {cert}\nkeyfile {key}\n"
            "require_certificate true\nuse_identity_as_username true\n"
            "allow_anonymous false\npersistence false\n"
            # Run as whoever runs the tests: as root, mosquitto would otherwise drop to
            # user "mosquitto", which cannot read the test's private temporary files.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
