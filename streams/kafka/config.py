"""Turns KafkaSettings into client options, once, for faust and for plain aiokafka alike.

The CLI tools (rescan, dlq replay) talk to Kafka with aiokafka directly; deriving their options
from the same faust credentials keeps both paths on identical security settings.
``check_kafka_access`` tries them once at start, so a wrong CA or password stops the process
with the setting to fix instead of an endless, quiet retry.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Protocol, TypeVar

import faust
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.errors import ConfigurationError, KafkaAccessError
from streams.kafka.transport import SCHEME
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
    """faust's broker URLs, with the scheme of hashgate's transport driver (transport.py)."""
    return [f"{SCHEME}://{server}" for server in kafka.servers]


#: How long the start-up access check waits for one broker's answer.
ACCESS_CHECK_TIMEOUT_S = 15.0


async def check_kafka_access(kafka: KafkaSettings) -> None:
    """Connect and log in to a bootstrap broker the way every client will; raise
    ``KafkaAccessError`` naming the setting if the broker refuses us.

    aiokafka treats an untrusted certificate or a refused SASL login like a broker that is
    down: it retries forever and logs the cause at most. Only an operator can fix these, so they
    are found here, once, at start. A broker that does not answer at all is left to the
    clients, which retry it (a broker restart is no reason to stop).
    """
    options = aiokafka_options(kafka)
    del options["bootstrap_servers"]
    for server in kafka.servers:
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(ACCESS_CHECK_TIMEOUT_S):
                connection = await create_conn(host.strip("[]"), int(port), **options)
        except ssl.SSLCertVerificationError as exc:
            raise KafkaAccessError(
                f"HASHGATE_KAFKA__SSL_CAFILE: the certificate of broker {server} is not trusted "
                f"({exc.verify_message}); point it at the CA that signed the brokers' certificates"
            ) from None
        except SaslAuthenticationFailed:
            raise KafkaAccessError(
                f"HASHGATE_KAFKA__SASL_USERNAME / HASHGATE_KAFKA__SASL_PASSWORD: broker {server} "
                f"refused the {kafka.sasl_mechanism} login of user {kafka.sasl_username!r}"
            ) from None
        except UnsupportedSaslMechanismError:
            raise KafkaAccessError(
                f"HASHGATE_KAFKA__SASL_MECHANISM: broker {server} does not accept "
                f"{kafka.sasl_mechanism}"
            ) from None
        except (OSError, KafkaError, TimeoutError):
            continue  # down or unreachable: the clients retry it
        connection.close()
        return


def is_unreachable_broker(exc: BaseException) -> bool:
    """Whether ``exc`` is a client's "no bootstrap broker answered", which a one-shot command
    cannot wait out the way a long-running process's clients do."""
    return isinstance(exc, KafkaConnectionError)


class _Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


StartableT = TypeVar("StartableT", bound=_Startable)


async def started(client: StartableT) -> StartableT:
    """``client`` (a consumer or producer) started; stopped again if its start fails, so a
    broker that does not answer leaves no half-open client behind (asyncio logs those at ERROR
    as "Unclosed AIOKafkaConsumer")."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise
    return client
