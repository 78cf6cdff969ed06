"""Acks first: requests being acknowledged are counted, and background CPU work waits them out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_WAIT = 0.5  # seconds a background task waits at most for the acks in flight
SETTLE = 0.02  # quiet this long first: in a burst the next request is usually milliseconds away


class Foreground:
    """Python runs one thread's bytecode at a time: an answer's search holding the GIL delays
    every ack behind it. Searches wait (briefly) until no ack is in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving = 0
        self._quiet = threading.Event()
        self._quiet.set()
        self._last_done = 0.0

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around a request that must be acknowledged quickly."""
        with self._lock:
            self._serving += 1
            self._quiet.clear()
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1
                self._last_done = time.monotonic()
                if not self._serving:
                    self._quiet.set()

    def wait_quiet(self, timeout: float = QUIET_WAIT, settle: float = SETTLE) -> bool:
        """Block until no request has been served for `settle` seconds, or `timeout` passed;
        True when quiet."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._quiet.wait(left):
                return False
            idle = time.monotonic() - self._last_done
            if idle >= settle:
                return True
            time.sleep(min(settle - idle, max(0.0, deadline - time.monotonic())))
