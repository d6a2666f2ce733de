"""The runbook cannot drift: each exit code, log line and metric it quotes maps to a test or to
the code that produces it. When the runbook gains a quote, add it here with its test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.runbook import exit_codes, quoted_metrics, runbook_text, section

ROOT = Path(__file__).parents[2]

#: Exit code -> tests (file::function) that make a real process exit with it.
EXIT_CODE_TESTS = {
    0: [
        "tests/integration/test_worker_promises.py::test_sigterm_drains_commits_only_finished_work_and_exits_0",
        "tests/integration/test_operator_safety.py::test_a_task_dump_with_calls_in_flight_neither_crashes_nor_leaks",
    ],
    78: [
        "tests/integration/test_operator_safety.py::test_an_invalid_setting_exits_78_naming_the_variable",
        "tests/integration/test_operator_safety.py::test_a_replication_factor_the_cluster_cannot_meet_exits_78_naming_topic_and_setting",
        "tests/integration/test_operator_safety.py::test_a_web_port_in_use_exits_78_with_one_line",
        "tests/integration/test_worker_promises.py::test_rejected_key_stops_the_worker_loudly_and_acks_nothing",
        "tests/integration/test_operator_safety.py::test_a_wrong_photodna_endpoint_exits_78",
        "tests/integration/test_key_rotation.py::test_a_reporting_agent_with_a_refused_key_exits_78_and_files_after_rotation",
        "tests/integration/test_kafka_sasl.py::test_sasl_ssl_refusal_stops_at_start_with_exit_78_naming_the_setting",
    ],
    70: [
        "tests/unit/test_process.py::test_any_other_fatal_error_exits_70",
        "tests/unit/test_process.py::test_a_crash_inside_faust_with_no_recorded_error_exits_70_not_fausts_1",
        "tests/unit/test_cli_exit_codes.py::test_an_unexpected_error_in_a_command_exits_70",
    ],
    69: [
        "tests/unit/test_cli_exit_codes.py::test_an_operator_command_with_no_broker_answering_exits_69_naming_the_setting",
    ],
    2: ["tests/unit/rescan/test_cli.py::test_start_refuses_before_connecting"],
}


def quoted_log_lines() -> list[str]:
    """What the runbook says a process logs or prints: after "log says", or "between" two."""
    text = " ".join(runbook_text().split())
    quotes = re.findall(r"[Ll]og says `([^`]+)`", text)
    for first, second in re.findall(r"between `([^`]+)` and `([^`]+)`", text):
        quotes += [first, second]
    return quotes


def _test_exists(test_id: str) -> bool:
    path, _, name = test_id.partition("::")
    tree = ast.parse((ROOT / path).read_text())
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def _string_literals() -> set[str]:
    literals: set[str] = set()
    for path in (ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
    return literals


def test_every_exit_code_the_runbook_lists_has_a_test_that_exits_with_it() -> None:
    assert exit_codes() == set(EXIT_CODE_TESTS)
    missing = [t for tests in EXIT_CODE_TESTS.values() for t in tests if not _test_exists(t)]
    assert missing == []


def _logged(quoted: str, literals: set[str]) -> bool:
    """Some string literal in streams/ reads as the quote, with N for each %d, %s, %f or %g."""
    return any(quoted in re.sub(r"%(?:\.\d+)?[dsfg]", "N", literal) for literal in literals)


@pytest.mark.parametrize("quoted", quoted_log_lines())
def test_each_log_line_the_runbook_quotes_is_what_the_code_logs(quoted: str) -> None:
    assert _logged(quoted, _string_literals()), f"no log line reads {quoted!r}"


def test_the_runbook_quotes_log_lines() -> None:
    # The parser above still finds them (a rewording of "log says" would hide them all).
    assert {"hashgate task dump (kill -USR1)", "end of task dump"} <= set(quoted_log_lines())


def test_every_metric_the_runbook_quotes_is_served_by_a_worker() -> None:
    # Listed so a new quote needs a look here; the integration test of a first start reads
    # each one from a live worker's /metrics.
    assert quoted_metrics() == {
        "hashgate_events_in_total",
        "hashgate_verdicts_total",
        "hashgate_dlq_records_total",
        "hashgate_event_retries_total",
        "hashgate_photodna_latency_seconds",
        "hashgate_photodna_retries_total",
        "hashgate_photodna_probe_calls_total",
        "hashgate_photodna_answers_total",
        "hashgate_breaker_state",
        "hashgate_consumer_lag",
        "hashgate_in_flight",
        "hashgate_unacked",
        "hashgate_photodna_throttled_total",
        "hashgate_rate_limit_rps",
        "hashgate_state_replayed_records",
    }


def test_key_rotation_names_every_process_that_holds_the_key() -> None:
    holders = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "streams").rglob("*.py")
        if "subscription_key" in path.read_text()
    }
    # The settings, the client that sends it, and the two processes that build a client.
    assert holders == {
        "streams/settings.py",
        "streams/photodna/api.py",
        "streams/worker.py",
        "streams/downstream/filing.py",
    }
    rotation = section("Rotating the subscription key")
    assert "**the scan workers**" in rotation and "**the reporting agents**" in rotation
