"""Password checks off the event loop. Argon2 is meant to be slow (tens of milliseconds of CPU
per check); on the event loop eight wrong sign-ins at once held up every chat and /health. The
checks run in a small thread pool the app owns, and only so many may wait for it: beyond that
a sign-in is told to try again in a moment, without hashing anything."""
from __future__ import annotations

import asyncio
import functools
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


class Busy(Exception):
    """Too many sign-ins are already waiting for a password check."""


@functools.cache
def dummy_hash() -> str:
    """Checked against when the username does not exist, so both take the same time. Made on
    first use, not at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Runs in a worker thread (the dummy hash too, the first time)."""
    try:
        return bool(_hasher.verify(password_hash or dummy_hash(), password))
    except (VerificationError, InvalidHashError):
        return False


class PasswordChecker:
    """`workers` threads check passwords; at most `waiting` more checks may queue for them."""

    def __init__(self, workers: int = 2, waiting: int = 8) -> None:
        self.capacity = workers + waiting
        self.pending = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="password-check")

    async def check(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches (`None`: no such agent; checked against a dummy hash
        all the same). Raises Busy, without hashing, when the queue is full."""
        if self.pending >= self.capacity:
            raise Busy()
        self.pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, verify, password_hash, password)
        future.add_done_callback(self._done)  # counted until the thread is free, even if abandoned
        return await asyncio.shield(future)

    def _done(self, _future: object) -> None:
        self.pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
