"""The runbook cannot drift: every inline code span it quotes is classified, and each exit code
and log line it quotes maps to tests that assert it against what a process outputs.

A span is a metric (``hashgate_...``), a setting (``HASHGATE_...``), a command or option, a page,
an identifier the code spells (a reason, a label, a topic, a header), one of NON_LOG_SPANS, or a
line a process logs or prints: then it is a key of LOG_LINE_TESTS. When the runbook gains a
span none of these fits, test_every_code_span_of_the_runbook_is_classified says what to add.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

import streams.errors
from streams.settings_doc import settings_docs
from tests.runbook import METRIC, code_spans, exit_codes, quoted_metrics, section

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

PROMISES = "tests/integration/test_worker_promises.py"
OUTAGE = f"{PROMISES}::test_outage_pauses_and_resumes_without_dlq_or_false_clear"
CANARY = "tests/unit/photodna/test_canary.py::test_only_status_3000_without_match_or_a_config_error_counts_as_answering"  # noqa: E501
BROKER_RESTART = "tests/integration/test_broker_faults.py::test_broker_restart_mid_run_loses_nothing_and_the_worker_resumes"  # noqa: E501
READINESS = "tests/unit/scan/test_service.py::test_readiness_says_why_the_worker_is_not_ready"
TASK_DUMP = (
    "tests/unit/observability/test_task_dump.py::test_the_dump_shows_tasks_and_stacks_but_no_value"
)
TASK_DUMP_LIVE = "tests/integration/test_operator_safety.py::test_a_task_dump_with_calls_in_flight_neither_crashes_nor_leaks"  # noqa: E501

#: Each line the runbook says a process logs, prints or answers on a page -> the tests that
#: assert it on that output: a real process's log, stderr, stdout or page in an integration
#: test, or caplog/capsys (or the stream it wrote to) in a unit test of the code that emits it.
#: ``N`` and ``...`` stand for what varies; each test's source holds the text before them.
LOG_LINE_TESTS = {
    "PhotoDNA circuit breaker open for Ns: the health probe failed": [
        "tests/unit/photodna/test_breaker.py::test_only_a_failed_probe_opens_and_calls_go_on_while_it_runs",
        OUTAGE,
    ],
    "PhotoDNA unavailable: taking no new records until it answers": [OUTAGE],
    "PhotoDNA circuit breaker is open": [READINESS, OUTAGE],
    "PhotoDNA answering again: taking records again": [OUTAGE],
    "PhotoDNA health probe failed: ...": [CANARY, OUTAGE],
    "PhotoDNA refused the canary image": [CANARY],
    "matched the benign canary image": [CANARY],
    "scan failed while PhotoDNA is otherwise healthy; retrying later": [
        f"{PROMISES}::test_one_event_failing_while_healthy_is_retried_then_dead_lettered"
    ],
    "quota share N of N calls/s": [
        "tests/integration/test_fleet_quota.py::test_fleet_of_three_shares_one_key_and_survivors_take_over_a_killed_share"
    ],
    "Kafka broker unreachable": [READINESS, BROKER_RESTART],
    "Kafka broker answering again": [BROKER_RESTART],
    "stop did not finish within ...": [
        "tests/unit/test_process.py::test_a_stop_stuck_past_its_budget_says_so_and_exits_0"
    ],
    "hashgate task dump (kill -USR1)": [TASK_DUMP, TASK_DUMP_LIVE],
    "end of task dump": [TASK_DUMP, TASK_DUMP_LIVE],
}

#: Spans that are neither log lines nor caught by a rule of ``_kind``, and what they are.
NON_LOG_SPANS = {
    "HTTP 503": "an answer of PhotoDNA's",
    "Status 3004": "an answer of PhotoDNA's",
    "Retry-After": "an HTTP header",
    "http_<code>": "the form of a label value",
    "-": "a character of URL-safe base64",
    "_": "a character of URL-safe base64",
    "+": "a character of standard base64",
    "/": "a character of standard base64",
    "min(quota share, in-flight / PhotoDNA latency)": "a formula",
    "in-flight x workers": "a formula",
    "quota x latency": "a formula",
    "scheme://host/… #digest": "the form a dump cuts each URL to (test_task_dump.py)",
}

#: Where a test reads what a process output: its log, streams, pages, or pytest's captures.
OUTPUT_READERS = (
    "caplog",
    "capsys",
    "capfd",
    "log_path",
    "log_text",
    ".stderr",
    ".stdout",
    '"/readyz"',
    ".readiness()",
    ".getvalue()",
)
#: What varies in a quoted line: ``...`` (the rest), or ``N`` (a number; ``Ns``: seconds).
PLACEHOLDER = re.compile(r"\.\.\.|(?<!\w)N(?=s?(?!\w))")
COMMAND = re.compile(r"hashgate(?: [a-z]+)*|--[a-z-]+|kill -USR1 <pid>")
PAGE = re.compile(r"/[A-Za-z]+")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_.-]*")


@cache
def _settings() -> frozenset[str]:
    return frozenset(doc.env_var for doc in settings_docs())


@cache
def _streams_source() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "streams").rglob("*.py")))


@cache
def _string_literals() -> frozenset[str]:
    literals: set[str] = set()
    for path in (ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
    return frozenset(literals)


def _is_setting(span: str) -> bool:
    """A setting's variable, the wildcard for them all, or a setting's field (``MAX_ATTEMPTS``)."""
    return (
        span in _settings()
        or span == "HASHGATE_*"
        or any(name.endswith(f"__{span}") for name in _settings())
    )


def _kind(span: str) -> str | None:
    if span in LOG_LINE_TESTS:
        return "log line"
    if span in NON_LOG_SPANS:
        return "listed"
    if METRIC.fullmatch(span):
        return "metric"
    if _is_setting(span):
        return "setting"
    if COMMAND.fullmatch(span):
        return "command"
    if PAGE.fullmatch(span):
        return "page"
    if IDENTIFIER.fullmatch(span) and span in _streams_source():
        return "identifier"
    return None


def test_every_code_span_of_the_runbook_is_classified() -> None:
    unclassified = [span for span in code_spans() if _kind(span) is None]
    assert unclassified == [], (
        f"docs/operations.md's runbook quotes {unclassified}, which tests/unit/test_runbook.py "
        "cannot place: no metric, existing HASHGATE_ setting, command, page or identifier that "
        "streams/ spells. If a process logs, prints or answers it, add it to LOG_LINE_TESTS with "
        "the tests that assert it on that output (add the assertion to a test that produces it); "
        "if it is no output, add it to NON_LOG_SPANS saying what it is."
    )


def test_the_lists_name_only_what_the_runbook_quotes() -> None:
    spans = set(code_spans())
    assert set(LOG_LINE_TESTS) - spans == set(), "a log line the runbook no longer quotes"
    assert set(NON_LOG_SPANS) - spans == set(), "a span the runbook no longer quotes"


def test_the_parser_reads_inline_spans_only() -> None:
    spans = code_spans()
    assert "PhotoDNA unavailable: taking no new records until it answers" in spans  # two lines
    assert "hashgate_dlq_records_total{reason,lane}" in spans
    # The fenced block of DLQ commands is left out, not read as a span between its fences.
    assert not any("--dry-run" in span for span in spans)


def _function(test_id: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str] | None:
    """The test's definition and its source, decorators included."""
    path, _, name = test_id.partition("::")
    source = (ROOT / path).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            return node, "\n".join(source.splitlines()[first - 1 : node.end_lineno])
    return None


def _exit_code_constants() -> dict[str, int]:
    """streams/errors.py's named exit codes (EX_CONFIG = 78, ...), as tests compare with them."""
    return {
        name: value
        for name, value in vars(streams.errors).items()
        if name.startswith("EX_") and isinstance(value, int)
    }


def _asserts_exit_code(node: ast.AST, source: str, code: int) -> bool:
    """An ``assert <exit code> == <code>``: the left side reads a process's exit code (its
    ``wait_exit()``, ``returncode``, ``exit_code`` or ``.code``), the right side is the number
    or streams.errors' constant for it."""
    named = {name for name, value in _exit_code_constants().items() if value == code}
    for test in (n.test for n in ast.walk(node) if isinstance(n, ast.Assert)):
        for compare in (c for c in ast.walk(test) if isinstance(c, ast.Compare)):
            if not (len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq)):
                continue
            left = ast.get_source_segment(source, compare.left) or ""
            right = compare.comparators[0]
            is_code = (isinstance(right, ast.Constant) and right.value == code) or (
                isinstance(right, ast.Name) and right.id in named
            )
            if is_code and re.search(r"wait_exit\(|returncode|exit_code|\.code\b", left):
                return True
    return False


@pytest.mark.parametrize(
    ("code", "test_id"), [(c, t) for c, ts in EXIT_CODE_TESTS.items() for t in ts]
)
def test_each_exit_code_test_asserts_that_code(code: int, test_id: str) -> None:
    found = _function(test_id)
    assert found is not None, f"no test {test_id}"
    node, _ = found
    path = ROOT / test_id.partition("::")[0]
    assert _asserts_exit_code(node, path.read_text(), code), f"{test_id} asserts no exit {code}"


def test_every_exit_code_the_runbook_lists_has_a_test_that_exits_with_it() -> None:
    assert exit_codes() == set(EXIT_CODE_TESTS)


def _fixed_prefix(quoted: str) -> str:
    return PLACEHOLDER.split(quoted, maxsplit=1)[0]


@pytest.mark.parametrize(
    ("quoted", "test_id"), [(q, t) for q, ts in LOG_LINE_TESTS.items() for t in ts]
)
def test_each_log_line_the_runbook_quotes_is_asserted_on_real_output(
    quoted: str, test_id: str
) -> None:
    found = _function(test_id)
    assert found is not None, f"no test {test_id}"
    _, source = found
    prefix = _fixed_prefix(quoted)
    assert len(prefix) >= 10, f"{quoted!r}: too little fixed text to look for"
    assert prefix in source, f"{test_id} does not look for {prefix!r}"
    assert "assert" in source
    assert any(reader in source for reader in OUTPUT_READERS), f"{test_id} reads no output"


def _logged(quoted: str, literals: frozenset[str]) -> bool:
    """Some string literal in streams/ reads as the quote: ``N`` as a %-placeholder, ``...`` as
    anything."""
    parts = PLACEHOLDER.split(quoted)
    marks = PLACEHOLDER.findall(quoted)
    pattern = re.escape(parts[0])
    for mark, part in zip(marks, parts[1:], strict=True):
        pattern += (".*" if mark == "..." else r"%[-.\d]*[dsfgr]") + re.escape(part)
    return any(re.search(pattern, literal, re.DOTALL) for literal in literals)


@pytest.mark.parametrize("quoted", list(LOG_LINE_TESTS))
def test_each_log_line_the_runbook_quotes_is_what_the_code_logs(quoted: str) -> None:
    assert _logged(quoted, _string_literals()), f"no log line reads {quoted!r}"


def test_a_reworded_log_line_is_not_read_as_logged() -> None:
    literals = frozenset({"quota share %.3f of %g calls/s: more", "stop within %.0fs (why)"})
    assert _logged("quota share N of N calls/s", literals)
    assert _logged("stop within Ns ...", literals)
    assert not _logged("quota share N of N requests/s", literals)
    assert not _logged("stop within N minutes", literals)


def test_every_metric_the_runbook_quotes_is_declared_in_the_code() -> None:
    # The integration test of a first start reads each one from a live worker's /metrics.
    metrics = quoted_metrics()
    assert {"hashgate_breaker_state", "hashgate_dlq_records_total", "hashgate_unacked"} <= metrics
    literals = _string_literals()
    undeclared = {
        m for m in metrics if m not in literals and m.removesuffix("_total") not in literals
    }
    assert undeclared == set()


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
