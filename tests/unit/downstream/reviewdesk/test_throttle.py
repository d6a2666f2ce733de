"""Failed-login limits: per account wherever the guesses come from, and per address."""

from __future__ import annotations

from streams.downstream.reviewdesk.throttle import LoginThrottle


def _throttle(clock: list[float]) -> LoginThrottle:
    return LoginThrottle(max_failures=3, window_s=60, clock=lambda: clock[0])


def test_an_account_guessed_at_from_many_addresses_is_locked_from_every_address() -> None:
    clock = [0.0]
    throttle = _throttle(clock)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert not throttle.blocked("alice", address)
        throttle.failed("alice", address)

    assert throttle.blocked("alice", "203.0.113.9")  # a new address: the account is locked
    assert throttle.blocked("ALICE", "203.0.113.9")  # however the name is written
    assert not throttle.blocked("bob", "203.0.113.9")  # other accounts are not
    clock[0] += 60
    assert not throttle.blocked("alice", "203.0.113.9")  # the window has passed


def test_a_successful_login_clears_the_accounts_failures_but_not_the_addresss() -> None:
    throttle = _throttle([0.0])
    for _ in range(3):
        throttle.failed("alice", "192.0.2.1")
    throttle.succeeded("alice")

    assert not throttle.blocked("alice", "203.0.113.9")
    assert throttle.blocked("bob", "192.0.2.1")
