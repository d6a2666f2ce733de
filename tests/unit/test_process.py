"""Exit codes of the faust processes: what the runbook's table promises an orchestrator."""

from __future__ import annotations

import logging
import os
from typing import Any, cast

import faust
import pytest

from streams.errors import EX_CONFIG, EX_SOFTWARE, AuthenticationError
from streams.process import run_worker
from streams.worker import end_unfinished_stop


class StoppedWorker:
    """Stands in for faust.Worker: its run ends the way faust ends one, with SystemExit."""

    def __init__(self, code: int) -> None:
        self.code = code

    def execute_from_commandline(self) -> Any:
        raise SystemExit(self.code)


def exit_code(fatal: BaseException | None, faust_code: int = 1) -> Any:
    with pytest.raises(SystemExit) as stopped:
        run_worker(cast(faust.Worker, StoppedWorker(faust_code)), lambda: fatal, "worker")
    return stopped.value.code


def test_a_configuration_error_while_running_exits_78() -> None:
    assert exit_code(AuthenticationError("key refused", status_code=401)) == EX_CONFIG


def test_any_other_fatal_error_exits_70() -> None:
    assert exit_code(RuntimeError("a bug")) == EX_SOFTWARE


def test_a_clean_stop_keeps_fausts_code() -> None:
    assert exit_code(None, faust_code=0) == 0


def test_a_crash_inside_faust_with_no_recorded_error_exits_70_not_fausts_1() -> None:
    assert exit_code(None, faust_code=1) == EX_SOFTWARE


def test_a_stop_stuck_past_its_budget_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    with caplog.at_level(logging.WARNING, logger="streams.worker"):
        end_unfinished_stop(14.0)
    assert exits == [0], "a requested stop: exit 0, as after a drain"
    [line] = caplog.messages
    assert line.startswith("stop did not finish within 14s (is Kafka reachable?): exiting now")
