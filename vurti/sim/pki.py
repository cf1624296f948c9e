"""The simulated fleet's PKI: an engine CA, one host certificate shared by all hosts, an engine client certificate.

As in oVirt, the engine CA signs both the hosts' certificates and the engine's
client certificate; a host requires a client certificate that chains to the CA
and checks nothing else (VDSM's `verify_client_cert=false`), and the engine
checks the chain but not the host name. The host certificate still carries
`localhost`, 127.0.0.1, ::1 and the first default host addresses (127.1.0.1 ...)
as subject alternative names, for clients that do check names (stomp.py). Keys
are EC P-256: fast to make and to handshake with thousands of hosts.

Files (created when missing, kept otherwise): `cacert.pem`, `cakey.pem`,
`vdsmcert.pem`, `vdsmkey.pem`, `engine-cert.pem`, `engine-key.pem`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650
NAMED_HOSTS = 16  # default host addresses named in the host certificate


@dataclass(frozen=True)
class Pki:
    ca: Path
    host_cert: Path
    host_key: Path
    engine_cert: Path
    engine_key: Path


def paths(directory: str | Path) -> Pki:
    d = Path(directory)
    return Pki(d / "cacert.pem", d / "vdsmcert.pem", d / "vdsmkey.pem", d / "engine-cert.pem", d / "engine-key.pem")


def ensure_pki(directory: str | Path) -> Pki:
    """The PKI in `directory`, made first if any file is missing."""
    pki = paths(directory)
    if all(p.exists() for p in (pki.ca, pki.host_cert, pki.host_key, pki.engine_cert, pki.engine_key)):
        return pki
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vurti simulated engine CA")])
    ca = (_builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    _write(d / "cakey.pem", _key_pem(ca_key), private=True)
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    names += [x509.IPAddress(ipaddress.IPv4Address("127.1.0.0") + i) for i in range(1, NAMED_HOSTS + 1)]
    _issue(pki.host_cert, pki.host_key, "vurti simulated VDSM host", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH, names)
    _issue(pki.engine_cert, pki.engine_key, "vurti engine", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    _write(pki.ca, ca.public_bytes(serialization.Encoding.PEM))  # last: its presence means the set is whole
    return pki


def server_context(pki: Pki) -> ssl.SSLContext:
    """What every simulated host serves: its certificate, and a client certificate required from the engine CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.host_cert, pki.host_key)
    ctx.load_verify_locations(pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(pki: Pki) -> ssl.SSLContext:
    """The engine's side: its client certificate, the chain checked, host names not (as the oVirt engine)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.check_hostname = False
    ctx.load_cert_chain(pki.engine_cert, pki.engine_key)
    return ctx


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=VALID_DAYS)))


def _issue(cert_path: Path, key_path: Path, cn: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
           usage: x509.ObjectIdentifier, names: list[x509.GeneralName] | None) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]), ca.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
