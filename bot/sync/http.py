"""HTTP for help-desk syncs: JSON requests retried on 429 (Retry-After) and 5xx, plain errors."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from bot.errors import EmptyChairError


class SyncError(EmptyChairError):
    """A help-desk sync could not go on; the message names the source and what to do."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, and a cap on time spent waiting between them."""

    attempts: int = 6
    max_wait: float = 300.0  # seconds, all waits of one request together
    backoff: float = 1.0  # first wait for a 5xx without Retry-After; doubles each time
    max_backoff: float = 60.0


class _Retryable(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds the server asks us to wait: Retry-After (seconds or a date), else Intercom's
    X-RateLimit-Reset (a Unix time)."""
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError, IndexError):
                pass
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


_HINTS = {
    401: "401 Unauthorized: check {credentials}",
    403: "403 Forbidden: the credentials lack access ({credentials} must belong to an admin)",
    404: "404 Not Found at {url}: check {base}",
}


class HelpDeskClient:
    """One help desk's API: JSON in and out, retries, and one-line errors naming the source."""

    def __init__(
        self, source: str, base_url: str, *, auth: httpx2.Auth | None = None,
        headers: Mapping[str, str] | None = None, credentials: str, base_setting: str,
        policy: RetryPolicy | None = None, timeout: float = 30.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._credentials = credentials
        self._base_setting = base_setting
        self._client = httpx2.Client(
            auth=auth, headers={"Accept": "application/json", **(headers or {})},
            timeout=timeout, transport=transport, follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HelpDeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        backoff = wait_exponential(multiplier=self.policy.backoff, min=self.policy.backoff,
                                   max=self.policy.max_backoff)
        return float(backoff(state))

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: object = None) -> dict[str, Any]:
        """The JSON object the API answers with; SyncError when it will not answer."""
        url = f"{self.base_url}{path}"
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            # A Retry-After beyond the budget stops at once rather than sleeping into it.
            stop=stop_after_attempt(self.policy.attempts) | stop_before_delay(self.policy.max_wait),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send(method, url, params, json)
        except _Retryable as exc:
            tries = retrying.statistics.get("attempt_number", self.policy.attempts)
            raise SyncError(
                f"{self.source}: {exc.what} from {url}, gave up after {tries} "
                f"{'try' if tries == 1 else 'tries'}; run the sync again later"
            ) from None
        try:
            data = response.json()
        except ValueError:
            raise SyncError(f"{self.source}: {url} did not answer with JSON") from None
        if not isinstance(data, dict):
            raise SyncError(f"{self.source}: {url} answered with JSON that is not an object")
        return data

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None,
              body: object) -> httpx2.Response:
        try:
            response = self._client.request(method, url, params=params, json=body)
        except httpx2.TransportError as exc:
            raise _Retryable(f"no answer ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429:
            raise _Retryable("429 Too Many Requests", _retry_after(response))
        if status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response))
        if status in _HINTS:
            hint = _HINTS[status].format(credentials=self._credentials, url=url,
                                         base=self._base_setting)
            raise SyncError(f"{self.source}: {hint}")
        if status >= 400:
            raise SyncError(f"{self.source}: HTTP {status} from {url}: {_brief(response)}")
        return response


def _brief(response: httpx2.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] if text else response.reason_phrase
