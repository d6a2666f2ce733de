"""Reviewer accounts: a JSON file of names, roles and argon2id password hashes.

The operator keeps it with ``hashgate reviewers add|remove|list``; the agent reads it again
whenever it changes, so adding a reviewer needs no restart. An account without a password can
only be used through the trusted reverse proxy.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.errors import ConfigurationError
from streams.settings import ReviewRole

log = logging.getLogger(__name__)

#: argon2-cffi's defaults (argon2id, RFC 9106's low-memory profile); one hasher per process.
HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12

#: Verified against for unknown names, so a wrong name costs as long as a wrong password.
_DECOY_HASH = HASHER.hash("not a password of anybody")


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._@-]+$")
    role: ReviewRole
    password_hash: str | None = Field(None, description="argon2id; null: proxy login only.")


class AccountsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewers: list[Account] = Field(default_factory=list)


class AccountFile:
    """The accounts at ``path``; a missing file means no accounts yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[float, dict[str, Account]] | None = None

    def load(self) -> dict[str, Account]:
        """Current accounts by name, re-read only when the file's mtime changed."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            try:
                document = AccountsDocument.model_validate_json(self.path.read_bytes())
            except ValidationError as exc:
                problem = f"{self.path} is not a reviewer accounts file: {exc.errors()[0]['msg']}"
                if self._cache is None:
                    raise ConfigurationError(problem) from None
                log.error("%s; keeping the accounts read before", problem)
                return dict(self._cache[1])
            self._cache = (mtime, {r.name: r for r in document.reviewers})
        return dict(self._cache[1])

    def find(self, name: str) -> Account | None:
        return self.load().get(name)

    def save(self, reviewers: dict[str, Account]) -> None:
        """Atomically, readable by the owner only (the hashes are still worth protecting)."""
        document = AccountsDocument(reviewers=sorted(reviewers.values(), key=lambda r: r.name))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(document.model_dump(mode="json"), indent=2) + "\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._cache = None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return HASHER.hash(password)


def password_matches(account: Account | None, password: str) -> bool:
    """Slow on purpose (argon2); run it off the event loop."""
    stored = account.password_hash if account else None
    try:
        return HASHER.verify(stored or _DECOY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
