"""Password hashing (argon2id) and the password policy.

The policy: at least ``password_min_length`` characters (12 by default), at most 128, not
containing the username or the email's local part, and not one of the commonly used passwords.
Length beats composition rules (NIST SP 800-63B), so there is no "one digit, one symbol" rule.

Hashing is bounded: at most ``argon2_concurrency`` hashes run at once (each holds
``argon2_memory_cost_kib`` of memory), at most ``argon2_queue`` wait for a turn, and a request
beyond that is refused at once (503 ``busy`` with ``Retry-After``) instead of queueing memory and
time without limit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from lookout_kit.errors import Invalid, Unavailable

from lookout_identity.settings import Settings

MAX_PASSWORD_LENGTH = 128
BUSY_RETRY_AFTER_S = 1

T = TypeVar("T")

_COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiop12",
        "passwordpassword",
        "iloveyou1234",
        "letmeinletmein",
        "adminadmin123",
        "welcome12345",
        "changeme1234",
        "qwertyqwerty",
        "111111111111",
        "000000000000",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abc123abc123",
    }
)


class WeakPassword(Invalid):
    """The password breaks the policy (422 ``weak_password``); the message says which rule, never
    the password."""

    code = "weak_password"


class PasswordHashingBusy(Unavailable):
    """Every hashing turn is taken and the queue is full (503 ``busy``, ``Retry-After``)."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__(
            "too many password checks at once; retry shortly",
            details={"retry_after_s": BUSY_RETRY_AFTER_S},
        )


class HashingGate:
    """At most ``concurrency`` hashes at once and ``queue`` callers waiting; beyond, ``busy``."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._queue = queue
        self._waiting = 0

    async def run(self, work: Callable[..., T], *args: object) -> T:
        if self._slots.locked() and self._waiting >= self._queue:
            raise PasswordHashingBusy()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            future = asyncio.get_running_loop().run_in_executor(
                None, functools.partial(work, *args)
            )
        except BaseException:
            self._slots.release()
            raise
        # The turn ends when the thread does, even if the request is cancelled meanwhile: the
        # memory is held until then.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(future)


class Passwords:
    """argon2id hashing with the service's parameters; the hash runs in a thread (it is slow on
    purpose and would otherwise block the event loop)."""

    def __init__(self, settings: Settings) -> None:
        self.min_length = settings.password_min_length
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified against when the login names no user, so that an unknown login costs the same
        # time as a wrong password (no user enumeration by timing).
        self._decoy = self._hasher.hash("decoy password never used")
        self._gate = HashingGate(settings.argon2_concurrency, settings.argon2_queue)

    def check_policy(self, password: str, *, username: str, email: str) -> None:
        if len(password) < self.min_length:
            raise WeakPassword(f"password must have at least {self.min_length} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"password must have at most {MAX_PASSWORD_LENGTH} characters")
        lowered = password.lower()
        if lowered in _COMMON or len(set(lowered)) < 4:
            raise WeakPassword("password is too common or too repetitive")
        for part in (username.lower(), email.split("@", 1)[0].lower()):
            if len(part) >= 3 and part in lowered:
                raise WeakPassword("password must not contain the username or email")

    async def hash(self, password: str) -> str:
        return await self._gate.run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Does ``password`` match? A missing hash is checked against a decoy (same cost)."""
        try:
            return (
                await self._gate.run(self._hasher.verify, password_hash or self._decoy, password)
                and password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
