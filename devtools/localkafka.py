"""A real Apache Kafka broker for tests and the demo, on any machine with Java or Docker.

Chosen in this order:
1. ``KAFKA_BOOTSTRAP`` is set: that cluster is used as it is (nothing is started).
2. A Docker engine answers: testcontainers' Kafka module.
3. Otherwise Kafka's own jars, resolved by Maven from Maven Central through
   ``devtools/kafka/pom.xml`` (cached in ~/.m2), run with ``java`` as one KRaft node
   (broker + controller) on free 127.0.0.1 ports with its data in a temporary folder. Besides
   its PLAINTEXT listener it has a SASL_SSL one (SCRAM-SHA-512, a user created when the log dir
   is formatted, a certificate from a CA made for this node by devtools/testpki.py), and it can
   be killed with -9 and restarted on the same ports and data (``JavaKafka.kill``/``restart``).

Never a mock broker: if none of these works, ``LocalKafkaError`` says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devtools.testpki import BrokerPki, make_broker_pki

log = logging.getLogger("hashgate.localkafka")

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hashgate"
START_TIMEOUT_S = 90.0
_VERSION_LINE = re.compile(r"Kafka version: (\S+)")


class LocalKafkaError(RuntimeError):
    """No real broker could be provided; the message says which step failed and how."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resolve_classpath() -> str:
    """Kafka's jars as a java classpath, resolved by Maven once per pom version and cached."""
    if shutil.which("mvn") is None:
        raise LocalKafkaError("Maven (mvn) is not installed; it resolves Kafka's jars")
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = CACHE_DIR / f"kafka-classpath-{digest}.txt"
    if cached.is_file() and all(Path(p).is_file() for p in cached.read_text().split(":")):
        return cached.read_text().strip()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log.info("resolving Kafka jars with Maven (first run only)")
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cached}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0 or not cached.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise LocalKafkaError(f"Maven could not resolve Kafka's jars:\n{tail}")
    return cached.read_text().strip()


def _cluster_id() -> str:
    """A Kafka cluster id: a UUID in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the process that started us dies, even by kill -9.

    Linux sends it when the *thread* that started the child ends, so start children from a
    thread that lives as long as they should (the main thread, not an executor's).
    """
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def _broker_answers(bootstrap: str) -> bool:
    if not _port_open(bootstrap):
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:  # noqa: BLE001 - any failure here only means "not up yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def wait_for_broker(bootstrap: str, timeout_s: float, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalKafkaError(f"the Kafka process exited with code {proc.returncode}")
        if asyncio.run(_broker_answers(bootstrap)):
            return
        time.sleep(0.3)
    raise LocalKafkaError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f}s")


@dataclass(frozen=True)
class SecuredListener:
    """How a client reaches a node's SASL_SSL listener: address, CA to trust, SCRAM user."""

    bootstrap: str
    cafile: Path
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-512"

    def settings_env(self) -> dict[str, str]:
        """hashgate's settings for a client of this listener."""
        return {
            "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "HASHGATE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "HASHGATE_KAFKA__SASL_MECHANISM": self.mechanism,
            "HASHGATE_KAFKA__SASL_USERNAME": self.username,
            "HASHGATE_KAFKA__SASL_PASSWORD": self.password,
            "HASHGATE_KAFKA__SSL_CAFILE": str(self.cafile),
        }


@dataclass(frozen=True)
class LocalBroker:
    """A running broker: its PLAINTEXT address, and its SASL_SSL listener if we know one."""

    bootstrap: str
    secured: SecuredListener | None = None


@dataclass
class JavaKafka:
    """One KRaft node (broker + controller) run from Kafka's jars."""

    classpath: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hashgate-kafka-")))
    port: int = field(default_factory=_free_port)
    sasl_port: int = field(default_factory=_free_port)
    controller_port: int = field(default_factory=_free_port)
    scram_user: str = "hashgate"
    scram_password: str = field(default_factory=lambda: secrets.token_hex(12))
    proc: subprocess.Popen[bytes] | None = None
    version: str | None = None
    #: Kafka's own 7-day default, as a new cluster has, instead of keeping records forever
    #: (tests publish records with old timestamps); for tests of what topic creation sets.
    stock_retention: bool = False
    pki: BrokerPki | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secured(self) -> SecuredListener:
        assert self.pki is not None, "start() makes the certificates"
        return SecuredListener(
            bootstrap=f"127.0.0.1:{self.sasl_port}",
            cafile=self.pki.cafile,
            username=self.scram_user,
            password=self.scram_password,
        )

    @property
    def logfile(self) -> Path:
        return self.workdir / "broker.log"

    def _write_config(self, pki: BrokerPki) -> Path:
        config = self.workdir / "server.properties"
        sasl = "listener.name.sasl_ssl"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"SASL_SSL://127.0.0.1:{self.sasl_port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"SASL_SSL://127.0.0.1:{self.sasl_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map="
                    "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                    "sasl.enabled.mechanisms=SCRAM-SHA-512",
                    f"{sasl}.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    f"{sasl}.ssl.keystore.type=PEM",
                    f"{sasl}.ssl.keystore.location={pki.keystore}",
                    f"log.dirs={self.workdir / 'data'}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    *([] if self.stock_retention else ["log.retention.hours=-1"]),
                    "",
                ]
            )
        )
        return config

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dhashgate.kafka.logfile={self.logfile}",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    @property
    def _config(self) -> Path:
        return self.workdir / "server.properties"

    def start(self) -> None:
        """Format a new log dir (creating the SCRAM user) and start the node."""
        if shutil.which("java") is None:
            raise LocalKafkaError("java is not installed; the local Kafka needs Java 17+")
        self.pki = make_broker_pki(self.workdir / "pki")
        config = self._write_config(self.pki)
        scram = f"SCRAM-SHA-512=[name={self.scram_user},password={self.scram_password}]"
        fmt = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_cluster_id()}",
                "-c",
                str(config),
                "--add-scram",
                scram,
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if fmt.returncode != 0:
            raise LocalKafkaError(f"formatting the KRaft log dir failed:\n{fmt.stderr[-2000:]}")
        self._launch()
        self.wait_until_up()
        match = _VERSION_LINE.search(self.logfile.read_text(errors="replace"))
        self.version = match.group(1) if match else "unknown"

    def kill(self) -> None:
        """kill -9 the node, as a crash would; its data and ports stay for ``restart``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def restart(self) -> None:
        """Start the node again on the same data directory and ports (killing it first if up).

        Returns at once; ``wait_until_up`` (which may run in another thread) waits for it.
        """
        self.kill()
        self._launch()

    def wait_until_up(self) -> None:
        try:
            wait_for_broker(self.bootstrap, START_TIMEOUT_S, self.proc)
        except LocalKafkaError:
            self.stop()
            raise

    def _launch(self) -> None:
        with (self.workdir / "stderr.log").open("ab") as stderr:
            self.proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self._config)),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def _docker_answers() -> bool:
    """Whether a Docker engine answers its /_ping on the local socket (or DOCKER_HOST's)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://") or not Path(host[len("unix://") :]).exists():
        return host.startswith("tcp://")  # a remote engine: let testcontainers try it
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(host[len("unix://") :])
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(256)
    except OSError:
        return False


@contextlib.contextmanager
def _testcontainers_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
        yield container.get_bootstrap_server()


@contextlib.contextmanager
def started_java_kafka() -> Iterator[JavaKafka]:
    """A JavaKafka node of our own, started, and stopped (its data removed) afterwards."""
    broker = JavaKafka(resolve_classpath())
    broker.start()
    log.warning(
        "Apache Kafka %s (KRaft, from Maven Central jars) up at %s (SASL_SSL %s); logs in %s",
        broker.version,
        broker.bootstrap,
        broker.secured.bootstrap,
        broker.logfile,
    )
    try:
        yield broker
    finally:
        broker.stop()
        log.info("local Kafka at %s stopped", broker.bootstrap)


@contextlib.contextmanager
def local_broker() -> Iterator[LocalBroker]:
    """A real broker, started here if need be; only our own node has a known SASL_SSL listener."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        log.info("using the Kafka cluster in KAFKA_BOOTSTRAP=%s", external)
        wait_for_broker(external, 30, None)
        yield LocalBroker(external)
        return
    if _docker_answers():
        log.info("starting Kafka with testcontainers")
        with _testcontainers_kafka() as bootstrap:
            yield LocalBroker(bootstrap)
        return
    with started_java_kafka() as broker:
        yield LocalBroker(broker.bootstrap, broker.secured)


@contextlib.contextmanager
def local_kafka() -> Iterator[str]:
    """Yield the bootstrap address of a real broker, started here if need be."""
    with local_broker() as broker:
        yield broker.bootstrap


def main() -> None:
    """``python -m devtools.localkafka``: run a broker in the foreground until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with local_broker() as broker:
        print(f"KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        if broker.secured is not None:
            print("# a client of the SASL_SSL listener (throw-away user and CA):", flush=True)
            for name, value in broker.secured.settings_env().items():
                print(f"{name}={value}", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
