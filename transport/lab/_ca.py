"""A throwaway certificate authority for the lab servers.

The lab serves HTTPS only, so every client must trust a CA. ``TestCA`` makes one at
start-up (an EC P-256 root and a leaf for ``localhost``, ``127.0.0.1`` and ``::1``) and
writes the PEM files to a directory. Clients pass ``ca_file`` explicitly: TLS stays
verified, nothing is disabled.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestCA"]

_VALIDITY = datetime.timedelta(days=2)
"""Lifetime of the generated certificates; the lab is throwaway, a lab run lasts hours."""

_BACKDATE = datetime.timedelta(hours=1)
"""Start validity an hour early so small clock differences never reject the certificate."""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "streamsdk lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _make_ca(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = _name("streamsdk lab test CA")
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


class TestCA:
    """A test CA and a ``localhost`` server certificate, generated on construction.

    The files are written to ``directory`` (a new temporary directory when ``None``);
    ``cleanup()`` (or leaving the ``with`` block) removes a temporary directory.

    Attributes:
        directory: Where the PEM files are.
        ca_file: PEM of the CA certificate: what clients trust (``TransportConfig.ca_file``).
        cert_file: PEM of the server certificate followed by the CA certificate.
        key_file: PEM (PKCS#8, unencrypted) of the server's private key.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, directory: str | Path | None = None) -> None:
        self._is_temporary = directory is None
        self.directory = Path(
            tempfile.mkdtemp(prefix="lab-ca-") if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.directory / "ca.pem"
        self.cert_file = self.directory / "server.pem"
        self.key_file = self.directory / "server-key.pem"
        self._generate()

    def _generate(self) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf_cert = _make_leaf(leaf_key, ca_key, ca_cert, now)
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        self.ca_file.write_bytes(ca_pem)
        self.cert_file.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
        _write_key(self.key_file, leaf_key)

    def cleanup(self) -> None:
        """Remove the directory if ``TestCA`` created it; a given directory is left alone."""
        if self._is_temporary:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> TestCA:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
