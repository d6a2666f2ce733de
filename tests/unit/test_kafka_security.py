"""Each Kafka security protocol turns into the client options faust and aiokafka need.

A wrong mapping here fails quietly in the worst way: a worker that talks plaintext to a broker
the operator configured for TLS, or that skips certificate checks. So every protocol is checked
down to the options handed to the clients, with a real CA made by openssl for the TLS cases.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pytest

from streams.app import create_app
from streams.errors import ConfigurationError
from streams.kafka_config import (
    aiokafka_options,
    check_kafka_access,
    faust_broker_urls,
    faust_credentials,
    ssl_context,
)
from streams.settings import KafkaSettings, Settings

pytestmark = pytest.mark.unit

CA_NAME = "hashgate-test-ca"
SASL_PASSWORD = "sasl-pw-5e7c"


@dataclass(frozen=True)
class Pki:
    cafile: Path
    certfile: Path
    keyfile: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throw-away CA and a client certificate it signed, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test CA")
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    client_key, client_csr, client_cert = (
        folder / "client.key",
        folder / "client.csr",
        folder / "client.pem",
    )
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={CA_NAME}",
        "-keyout",
        ca_key,
        "-out",
        ca_cert,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=hashgate-worker",
        "-keyout",
        client_key,
        "-out",
        client_csr,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        client_csr,
        "-CA",
        ca_cert,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        client_cert,
    )
    return Pki(cafile=ca_cert, certfile=client_cert, keyfile=client_key)


def _kafka(**fields: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="b1:9093,b2:9093", **fields)


def _sasl(protocol: str, mechanism: str, **fields: Any) -> KafkaSettings:
    return _kafka(
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username="hashgate",
        sasl_password=SASL_PASSWORD,
        **fields,
    )


def _assert_verifies_against_test_ca(context: Any) -> None:
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    subjects = [ca["subject"] for ca in context.get_ca_certs()]
    assert subjects == [((("commonName", CA_NAME),),)], "only the configured CA may be trusted"


def test_plaintext_needs_no_credentials() -> None:
    kafka = _kafka()
    assert faust_credentials(kafka) is None
    assert ssl_context(kafka) is None
    assert aiokafka_options(kafka) == {
        "bootstrap_servers": ["b1:9093", "b2:9093"],
        "security_protocol": "PLAINTEXT",
    }


def test_broker_urls_carry_every_server() -> None:
    assert faust_broker_urls(_kafka()) == ["kafka://b1:9093", "kafka://b2:9093"]


def test_ssl_verifies_brokers_against_the_configured_ca(pki: Pki) -> None:
    kafka = _kafka(security_protocol="SSL", ssl_cafile=pki.cafile)

    credentials = faust_credentials(kafka)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"
    _assert_verifies_against_test_ca(credentials.context)

    options = aiokafka_options(kafka)
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    _assert_verifies_against_test_ca(options["ssl_context"])


def test_ssl_without_a_ca_file_still_verifies_with_system_cas() -> None:
    context = ssl_context(_kafka(security_protocol="SSL"))
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_ssl_with_a_client_certificate_loads_it(pki: Pki) -> None:
    kafka = _kafka(
        security_protocol="SSL",
        ssl_cafile=pki.cafile,
        ssl_certfile=pki.certfile,
        ssl_keyfile=pki.keyfile,
    )
    _assert_verifies_against_test_ca(ssl_context(kafka))


def test_a_client_key_that_does_not_match_the_certificate_is_refused(pki: Pki) -> None:
    kafka = _kafka(
        security_protocol="SSL",
        ssl_cafile=pki.cafile,
        ssl_certfile=pki.certfile,
        ssl_keyfile=pki.cafile.with_name("ca.key"),
    )
    with pytest.raises(ConfigurationError, match="HASHGATE_KAFKA__SSL_KEYFILE"):
        ssl_context(kafka)


def test_a_ca_file_that_is_not_pem_is_a_configuration_error(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="HASHGATE_KAFKA__SSL_CAFILE"):
        faust_credentials(_kafka(security_protocol="SSL", ssl_cafile=cafile))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_ssl_sends_credentials_over_verified_tls(pki: Pki, mechanism: str) -> None:
    kafka = _sasl("SASL_SSL", mechanism, ssl_cafile=pki.cafile)

    credentials = faust_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == mechanism
    assert (credentials.username, credentials.password) == ("hashgate", SASL_PASSWORD)
    _assert_verifies_against_test_ca(credentials.ssl_context)

    options = aiokafka_options(kafka)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "hashgate"
    assert options["sasl_plain_password"] == SASL_PASSWORD
    _assert_verifies_against_test_ca(options["ssl_context"])


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_sasl_plaintext_has_no_tls(mechanism: str) -> None:
    kafka = _sasl("SASL_PLAINTEXT", mechanism)

    credentials = faust_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.mechanism.value == mechanism

    assert aiokafka_options(kafka) == {
        "bootstrap_servers": ["b1:9093", "b2:9093"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "hashgate",
        "sasl_plain_password": SASL_PASSWORD,
        "ssl_context": None,
    }


def test_sasl_credentials_repr_hides_the_password() -> None:
    credentials = faust_credentials(_sasl("SASL_PLAINTEXT", "PLAIN"))
    assert SASL_PASSWORD not in repr(credentials)


def test_a_faust_app_carries_the_credentials() -> None:
    credentials = faust_credentials(_sasl("SASL_PLAINTEXT", "SCRAM-SHA-512"))
    app = faust.App(
        "hashgate-security-test", broker="kafka://b1:9093", broker_credentials=credentials
    )
    assert app.conf.broker_credentials is credentials


def _producer_auth(app: faust.App) -> dict[str, Any]:
    """What faust's own aiokafka producer is built with (private API of the pinned faust 0.15.3)."""
    producer: Any = app.producer
    return dict(producer._settings_auth())


async def test_the_worker_app_hands_its_producer_the_sasl_ssl_options(pki: Pki) -> None:
    settings = Settings(kafka=_sasl("SASL_SSL", "SCRAM-SHA-512", ssl_cafile=pki.cafile))
    app = create_app(settings)

    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    auth = _producer_auth(app)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "hashgate"
    assert auth["sasl_plain_password"] == SASL_PASSWORD
    _assert_verifies_against_test_ca(auth["ssl_context"])


async def test_the_worker_app_uses_plaintext_by_default() -> None:
    app = create_app(Settings(kafka=_kafka()))
    assert app.conf.broker_credentials is None
    assert _producer_auth(app) == {"security_protocol": "PLAINTEXT"}


async def test_the_access_check_leaves_a_broker_that_does_not_answer_to_the_clients() -> None:
    """A broker that is down (restarting, say) is no configuration error: no exception here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port}")
    await check_kafka_access(kafka)
