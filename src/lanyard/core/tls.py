"""A private certificate authority and server certificates for a registry or an agent.

`lanyard registry tls init` uses it: a WG (or an event) that runs no PKI of its own gets an
ECDSA P-256 CA and a server certificate whose subjectAltName lists every DNS name and IP
address clients will dial, so gRPC's hostname check passes. Every private key is written
mode 0600; certificates are public.

Files written in the output directory:
    ca.crt      the CA certificate: what every client is given (LANYARD_REGISTRY_CA, …)
    ca.key      the CA's private key: keep it offline; it is only needed to issue more
    server.crt  the server certificate, signed by the CA (tls_cert)
    server.key  its private key (tls_key)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lanyard.core import files
from lanyard.core.errors import ConfigError

CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True, slots=True)
class Issued:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    names: tuple[str, ...]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c in host for c in " /:@"):
                raise ConfigError(f"{host!r} is neither a DNS name nor an IP address") from None
            names.append(x509.DNSName(host))
    return names


def load_ca(out: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA already in `out`, if any (to issue another server certificate with it)."""
    cert_path, key_path = out / "ca.crt", out / "ca.key"
    if not cert_path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the CA in {out} cannot be read: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{key_path} is not the ECDSA key this tool makes")
    return cert, key


def issue(out: Path, hosts: list[str], ca_name: str, server_name: str = "server") -> Issued:
    """Make (or reuse) the CA in `out` and issue `<server_name>.crt`/`.key` for `hosts`
    (DNS names and IP addresses; the first is the certificate's common name). Refuses to
    replace an existing server key."""
    if not hosts:
        raise ConfigError("give at least one --host: the name or address clients dial")
    alt = _alt_names(hosts)
    cert_path, key_path = out / f"{server_name}.crt", out / f"{server_name}.key"
    if key_path.exists():
        raise ConfigError(f"{key_path} already exists; refusing to replace a server key")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    existing = load_ca(out)
    if existing is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(ca_name))
            .issuer_name(_name(ca_name))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        files.write_atomically(out / "ca.key", _pem_key(ca_key))
        files.write_atomically(
            out / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), mode=0o644
        )
    else:
        ca_cert, ca_key = existing
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files.write_atomically(key_path, _pem_key(key))
    files.write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return Issued(out / "ca.crt", out / "ca.key", cert_path, key_path, tuple(hosts))
