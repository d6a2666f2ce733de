"""docker-compose.yml, the Dockerfile and deploy/ are checked here, since no Docker engine is.

The compose file must be valid by the Compose Specification's own JSON Schema, and every part
of it that names something in hashgate (a command, a HASHGATE_* variable, a port, a topic) must
name something that exists, so a rename in the code breaks this test and not a deployment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from streams.cli import cli
from streams.events.topics import REGISTRY
from streams.kafka.topics import creation_script
from streams.settings import Settings, load_settings
from streams.settings_doc import settings_docs

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
CREATE_TOPICS = ROOT / "deploy" / "create-topics.sh"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus.yml"
HASHGATE_IMAGE = "hashgate:local"
SIMULATOR_IMAGE = "hashgate-simulator:local"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping"
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _dockerfile_instruction(name: str) -> list[str]:
    """The JSON (exec) form of a Dockerfile instruction, e.g. CMD ["worker"]."""
    match = re.search(rf"^{name}\s+(\[.*\])\s*$", DOCKERFILE.read_text("utf-8"), re.MULTILINE)
    assert match, f"Dockerfile has no exec-form {name}"
    parsed = json.loads(match.group(1))
    assert isinstance(parsed, list)
    return parsed


def _hashgate_services() -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """Services running the hashgate image, with the arguments given to ``hashgate``."""
    for name, service in _compose()["services"].items():
        if service.get("image") in (HASHGATE_IMAGE, SIMULATOR_IMAGE):
            yield name, service, service.get("command") or _dockerfile_instruction("CMD")


def _resolve(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The click command ``hashgate <args>`` runs, its path, and the arguments left for it."""
    command: click.Command = cli
    path = ["hashgate"]
    while isinstance(command, click.Group):
        assert args, f"{' '.join(path)} needs a sub-command"
        name, *args = args
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"`{' '.join(path)}` has no command {name!r}"
        command, path = found, [*path, name]
    return command, path, args


def _option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def _listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` as {NAME: host:port}."""
    return dict(item.split("://", 1) for item in value.split(","))


@pytest.fixture
def env_of(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace the process' HASHGATE_* variables by those of one compose service."""

    def apply(service: dict[str, Any]) -> dict[str, str]:
        for name in list(os.environ):
            if name.upper().startswith("HASHGATE_"):
                monkeypatch.delenv(name)
        env = _environment(service)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


def _worker_settings(env_of: Any) -> Settings:
    env_of(_service("worker"))
    return load_settings()


# --- the file itself --------------------------------------------------------------------------


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_a_broken_file() -> None:
    """Guards the guard: a typo'd service key must fail validation."""
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    broken = _compose()
    broken["services"]["worker"]["enviroment"] = {"HASHGATE_LOG_LEVEL": "INFO"}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_compose_file_has_no_obsolete_version_key() -> None:
    assert "version" not in _compose()


#: Mounted files that ``make compose-pki`` generates (git-ignored), not committed ones.
GENERATED_PKI = "./deploy/pki"


def test_files_mounted_from_the_repository_exist() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and not source.startswith(GENERATED_PKI):
                assert (ROOT / source).is_file(), f"{name} mounts missing {source}"


def test_host_ports_are_bound_to_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all hosts"


# --- hashgate services: real commands, real variables ------------------------------------------


def test_hashgate_services_run_the_worker_and_the_simulator() -> None:
    commands = {name: args[:2] for name, _, args in _hashgate_services()}
    assert commands == {
        "worker": ["worker"],
        "worker-sasl": ["worker"],
        "simulator": ["simulator", "serve"],
    }


@pytest.mark.parametrize("service_name", ["worker", "worker-sasl", "simulator"])
def test_each_command_exists_and_its_arguments_parse(env_of: Any, service_name: str) -> None:
    service, args = next((s, a) for n, s, a in _hashgate_services() if n == service_name)
    env_of(service)
    command, path, rest = _resolve(list(args))

    help_result = CliRunner().invoke(cli, [*path[1:], "--help"])
    assert help_result.exit_code == 0, help_result.output

    context = command.make_context(" ".join(path), rest)  # parses and converts, does not run
    assert context.command is command


def test_the_image_runs_the_worker_by_default() -> None:
    assert _dockerfile_instruction("ENTRYPOINT") == ["hashgate"]
    command, path, _ = _resolve(_dockerfile_instruction("CMD"))
    assert path == ["hashgate", "worker"]
    assert command.name == "worker"


@pytest.mark.parametrize("service_name", ["worker", "worker-sasl", "simulator"])
def test_hashgate_variables_are_ones_hashgate_reads(service_name: str) -> None:
    service, args = next((s, a) for n, s, a in _hashgate_services() if n == service_name)
    command, _, _ = _resolve(list(args))
    command_envvars = {
        var
        for param in command.params
        for var in ([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
    }
    known = {doc.env_var for doc in settings_docs()} | command_envvars
    used = {name for name in _environment(service) if name.startswith("HASHGATE_")}
    assert used - known == set(), "unknown HASHGATE_* variables (typo or removed setting?)"
    assert {name for name in _environment(service) if not name.startswith("HASHGATE_")} == set()


def test_worker_environment_loads_as_settings(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    assert settings.photodna.subscription_key is not None
    assert settings.web.host == "0.0.0.0"


# --- wiring between services -------------------------------------------------------------------


def test_worker_reaches_kafka_on_its_in_network_listener(env_of: Any) -> None:
    kafka = _environment(_service("kafka"))
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    internal = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal.split(":")[0] == "kafka"
    assert _worker_settings(env_of).kafka.servers == [internal]
    assert _environment(_service("kafka-init"))["BOOTSTRAP"] == internal
    assert _environment(_service("kafka-ui"))["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == internal


def test_kafka_listens_on_every_advertised_listener() -> None:
    kafka = _environment(_service("kafka"))
    listeners = _listeners(kafka["KAFKA_LISTENERS"])
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    protocols = _listeners(kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].replace(":", "://"))
    for name, address in advertised.items():
        assert listeners[name].split(":")[-1] == address.split(":")[-1], name
    assert set(protocols) == set(listeners)
    assert kafka["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    host_port = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])["HOST"].split(":")[-1]
    assert f"127.0.0.1:{host_port}:{host_port}" in _service("kafka")["ports"]


def test_the_sasl_profile_worker_logs_in_over_tls_as_the_user_the_profile_creates() -> None:
    for name in ("kafka-sasl", "kafka-sasl-users", "worker-sasl"):
        assert _service(name)["profiles"] == ["sasl"], f"{name} must stay optional"
    kafka = _environment(_service("kafka-sasl"))
    worker = _environment(_service("worker-sasl"))
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    protocols = _listeners(kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].replace(":", "://"))
    (secure,) = [
        name
        for name, address in advertised.items()
        if address == worker["HASHGATE_KAFKA__BOOTSTRAP_SERVERS"]
    ]
    assert protocols[secure] == worker["HASHGATE_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    mechanism = worker["HASHGATE_KAFKA__SASL_MECHANISM"]
    assert kafka["KAFKA_SASL_ENABLED_MECHANISMS"] == mechanism
    jaas = f"KAFKA_LISTENER_NAME_{secure}_{mechanism.replace('-', '___')}_SASL_JAAS_CONFIG"
    assert "ScramLoginModule required" in kafka[jaas]
    user_job = _service("kafka-sasl-users")["entrypoint"]
    assert _option(user_job, "--entity-name") == worker["HASHGATE_KAFKA__SASL_USERNAME"]
    password = worker["HASHGATE_KAFKA__SASL_PASSWORD"]
    assert _option(user_job, "--add-config") == f"{mechanism}=[password={password}]"
    # The broker's keystore and the worker's CA both come from what `make compose-pki` writes,
    # for the broker's in-network host name.
    keystore = kafka[f"KAFKA_LISTENER_NAME_{secure}_SSL_KEYSTORE_LOCATION"]
    assert f"{GENERATED_PKI}:{Path(keystore).parent}:ro" in _service("kafka-sasl")["volumes"]
    cafile = worker["HASHGATE_KAFKA__SSL_CAFILE"]
    assert f"{GENERATED_PKI}/ca.pem:{cafile}:ro" in _service("worker-sasl")["volumes"]
    makefile = (ROOT / "Makefile").read_text("utf-8")
    host = worker["HASHGATE_KAFKA__BOOTSTRAP_SERVERS"].split(":")[0]
    assert f"-m hashgate_tools.testpki {GENERATED_PKI[2:]} {host}" in makefile


def test_worker_calls_the_simulator_with_a_key_it_accepts(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    simulator_args = _service("simulator")["command"]
    endpoint = settings.photodna.endpoint
    assert endpoint.host == "simulator"
    assert str(endpoint.port) == _option(simulator_args, "--port")
    assert endpoint.path is not None and endpoint.path.rstrip("/") == "/photodna/v1.0"
    assert settings.photodna.subscription_key is not None
    keys = _option(simulator_args, "--keys").split(",")
    assert settings.photodna.subscription_key.get_secret_value() in keys


def test_each_simulator_key_serves_one_consumer_group() -> None:
    """Workers share a key's quota within their consumer group only: two groups (here on two
    clusters) on one key would each take the whole quota and get 429s."""
    accepted = _option(_service("simulator")["command"], "--keys").split(",")
    groups_by_key: dict[str, set[tuple[str, str]]] = {}
    for name in ("worker", "worker-sasl"):
        env = _environment(_service(name))
        group = (env["HASHGATE_KAFKA__BOOTSTRAP_SERVERS"], env["HASHGATE_KAFKA__CONSUMER_GROUP"])
        key = env["HASHGATE_PHOTODNA__SUBSCRIPTION_KEY"]
        assert key in accepted, name
        groups_by_key.setdefault(key, set()).add(group)
    assert all(len(groups) == 1 for groups in groups_by_key.values()), groups_by_key


def test_worker_replicas_share_the_simulator_quota_undivided(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    replicas = _service("worker")["deploy"]["replicas"]
    quota = float(_option(_service("simulator")["command"], "--quota-rps"))
    assert replicas == 2
    assert settings.photodna.key_quota_rps == quota, "the key's quota, not divided by replicas"


def test_worker_gets_time_to_drain_before_sigkill(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    grace = _service("worker")["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace), grace
    assert int(grace[:-1]) > settings.scan.shutdown_grace_s


def test_worker_publishes_no_host_port() -> None:
    worker = _service("worker")
    assert "ports" not in worker, "two replicas cannot share one host port"


def test_prometheus_scrapes_every_worker_replica(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    prometheus = _service("prometheus")
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load(PROMETHEUS_FILE.read_text("utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "hashgate-worker"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert discovery["type"] == "A"
    assert discovery["port"] == settings.web.port


# --- topics -------------------------------------------------------------------------------------


def _topic_names(settings: Settings) -> set[str]:
    topics = settings.topics.model_dump()
    return {value for value in topics.values() if isinstance(value, str)}


def test_kafka_init_creates_topics_with_the_workers_settings(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    init = _environment(_service("kafka-init"))
    assert int(init["PARTITIONS"]) == settings.topics.partitions
    assert int(init["REPLICATION_FACTOR"]) == settings.topics.replication_factor
    assert (
        int(_environment(_service("kafka"))["KAFKA_NUM_PARTITIONS"]) == settings.topics.partitions
    )


def test_the_create_topics_script_is_the_one_generated_from_the_registry(env_of: Any) -> None:
    settings = _worker_settings(env_of)
    assert CREATE_TOPICS.read_text("utf-8") == creation_script(settings), (
        "run `hashgate schemas topics-script --write deploy/create-topics.sh`"
    )


def test_workers_start_only_after_topics_exist() -> None:
    depends = _service("worker")["depends_on"]
    assert depends["kafka-init"]["condition"] == "service_completed_successfully"
    assert _service("kafka-init")["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_create_topics_script_creates_every_registry_topic_with_its_configs(
    tmp_path: Path,
) -> None:
    """Runs the script with a stand-in kafka-topics.sh that records its arguments."""
    calls = tmp_path / "calls.txt"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\n')
    stub.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(tmp_path)}
    env.update(_environment(_service("kafka-init")))

    result = subprocess.run(
        ["/bin/sh", str(CREATE_TOPICS)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr

    lines = calls.read_text().splitlines()
    created = {}
    for line in lines:
        args = line.split()
        assert args[:4] == ["--bootstrap-server", env["BOOTSTRAP"], "--create", "--if-not-exists"]
        assert _option(args, "--partitions") == env["PARTITIONS"]
        assert _option(args, "--replication-factor") == env["REPLICATION_FACTOR"]
        configs = [args[i + 1] for i, arg in enumerate(args) if arg == "--config"]
        created[_option(args, "--topic")] = dict(c.split("=", 1) for c in configs)
    settings = Settings.model_construct()
    expected = {t.address(settings): t.configs(settings) for t in REGISTRY}
    assert created == expected
    assert len(lines) == len(expected)


def test_create_topics_script_stops_at_the_first_failure(tmp_path: Path) -> None:
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(tmp_path)}
    env.update(_environment(_service("kafka-init")))
    result = subprocess.run(
        ["/bin/sh", str(CREATE_TOPICS)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "topics ready" not in result.stdout


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_image_with_a_health_check() -> None:
    text = DOCKERFILE.read_text("utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    external = [base for base in bases if base not in _stages()]  # FROM <earlier stage> aside
    assert external and all(base == "python:3.11-slim" for base in external)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    healthcheck = text[text.index("HEALTHCHECK") :]
    assert "/healthz" in healthcheck and "HASHGATE_WEB__PORT" in healthcheck
    assert "[dev]" not in text, "the image must not carry the dev extra"


def _stages() -> dict[str, str]:
    """The Dockerfile's build stages by name, each with its instructions."""
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", DOCKERFILE.read_text("utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_worker_image_is_built_without_a_compiler_or_the_simulator() -> None:
    stages = _stages()
    assert list(stages)[-1] == "worker", "a plain `docker build` must make the worker image"
    source = re.search(r"COPY --from=(\S+) /opt/hashgate", stages["worker"])
    assert source and source.group(1) == "runtime-build"
    for name in ("runtime-build", "base", "worker"):
        assert "build-essential" not in stages[name] and "[simulator]" not in stages[name]
    assert "'.[simulator]'" in stages["simulator-build"]


def test_the_simulator_service_builds_the_simulator_image() -> None:
    simulator = _service("simulator")
    assert simulator["build"]["target"] == "simulator"
    assert simulator["image"] == SIMULATOR_IMAGE


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = {source for line in copied for source in line.split()}
    assert sources and sources <= allowed
