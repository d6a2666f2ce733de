"""Turns KafkaSettings into client options, once, for faust and for plain aiokafka alike.

The CLI tools (rescan, dlq replay) talk to Kafka with aiokafka directly; deriving their options
from the same faust credentials keeps both paths on identical security settings.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.errors import ConfigurationError
from streams.settings import KafkaSettings, SecurityProtocol


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context for SSL and SASL_SSL; None for plaintext protocols."""
    if kafka.security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
        if kafka.ssl_certfile:
            context.load_cert_chain(
                str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None
            )
    except (ssl.SSLError, OSError) as exc:  # not PEM, key/cert mismatch, encrypted key
        raise ConfigurationError(
            "HASHGATE_KAFKA__SSL_CAFILE, HASHGATE_KAFKA__SSL_CERTFILE or "
            f"HASHGATE_KAFKA__SSL_KEYFILE cannot be loaded: {exc}"
        ) from None
    return context


def faust_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    protocol = kafka.security_protocol
    if protocol is SecurityProtocol.PLAINTEXT:
        return None
    if protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(ssl_context(kafka))
    assert kafka.sasl_password is not None and kafka.sasl_mechanism is not None  # validated
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        ssl_context=ssl_context(kafka),
        mechanism=kafka.sasl_mechanism.value,
    )


def aiokafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/AIOKafkaConsumer/AIOKafkaAdminClient."""
    options: dict[str, Any] = {"bootstrap_servers": kafka.servers}
    options.update(credentials_to_aiokafka_auth(faust_credentials(kafka)))
    return options


def faust_broker_urls(kafka: KafkaSettings) -> list[str]:
    return [f"kafka://{server}" for server in kafka.servers]
