"""A throw-away certificate authority and a broker certificate for the local SASL_SSL listener.

Made with the ``cryptography`` library, as PEM files a Kafka 4.x broker reads directly
(``ssl.keystore.type=PEM``) and clients trust through ``HASHGATE_KAFKA__SSL_CAFILE``. Valid for
two days: long enough for a test session or a demo, useless anywhere else.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class BrokerPki:
    """``cafile`` is what clients trust; ``keystore`` holds the broker's key and certificate."""

    cafile: Path
    keystore: Path


@dataclass(frozen=True)
class _Authority:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    """A certificate for ``key``, valid from a few minutes ago (clock skew) for VALIDITY."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _authority(common_name: str) -> _Authority:
    key = _new_key()
    cert = (
        _builder(_name(common_name), _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _Authority(key, cert)


def _server_cert(ca: _Authority, key: rsa.RSAPrivateKey, hosts: list[str]) -> x509.Certificate:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return (
        _builder(_name(hosts[0]), ca.cert.subject, key)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def write_ca(path: Path, common_name: str = "hashgate-test-ca") -> None:
    """A CA certificate alone: what a client that trusts the wrong authority points at."""
    path.write_bytes(_authority(common_name).cert.public_bytes(serialization.Encoding.PEM))


def make_broker_pki(folder: Path, hosts: list[str] | None = None) -> BrokerPki:
    """A new CA and a broker certificate for ``hosts`` (default: loopback), written to ``folder``.

    The keystore is the unencrypted PKCS#8 key followed by the certificate chain, the layout
    Kafka's PEM keystore expects.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca = _authority("hashgate-test-ca")
    key = _new_key()
    cert = _server_cert(ca, key, hosts or ["127.0.0.1", "localhost"])
    cafile, keystore = folder / "ca.pem", folder / "broker-keystore.pem"
    pem = serialization.Encoding.PEM
    cafile.write_bytes(ca.cert.public_bytes(pem))
    keystore.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(pem)
        + ca.cert.public_bytes(pem)
    )
    keystore.chmod(0o600)
    return BrokerPki(cafile=cafile, keystore=keystore)


def main() -> None:
    """``python -m devtools.testpki FOLDER [HOST...]``: files for compose's SASL_SSL profile."""
    import sys

    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m devtools.testpki FOLDER [HOST...]")
    pki = make_broker_pki(Path(sys.argv[1]), sys.argv[2:] or None)
    pki.keystore.chmod(0o644)  # the broker container runs as another user
    print(f"CA: {pki.cafile}\nbroker keystore: {pki.keystore}")


if __name__ == "__main__":
    main()
