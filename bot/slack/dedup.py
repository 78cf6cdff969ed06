"""De-duplication middleware: a retried or replayed delivery gets an ack and no second answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

from bot.logs import request_id

log = logging.getLogger(__name__)


def dedup_middleware(
    claim: Callable[[str], bool], claim_request: Callable[[str, str], bool] | None = None
) -> Callable[..., Any]:
    """Bolt global middleware. `claim(event_id)` is True only the first time an id is seen;
    `claim_request(signature, timestamp)` only the first time a signed request is. Slack signs
    every delivery (retries included) afresh, so a repeated signature is a captured request
    played back, and it is answered with an empty 200 that does nothing."""

    def middleware(req: BoltRequest, body: dict[str, Any],
                   next: Callable[[], Any]) -> Any:  # noqa: A002
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        request_id.set(str(event_id or body.get("trigger_id") or body.get("type") or "-"))
        log.info("slack request kind=%s", body.get("type") or body.get("command") or "?")
        if claim_request is not None and req.mode == "http":
            signature = (req.headers.get("x-slack-signature") or [""])[0]
            timestamp = (req.headers.get("x-slack-request-timestamp") or [""])[0]
            if signature and not claim_request(signature, timestamp):
                log.info("replayed signed request ignored")
                return BoltResponse(status=200, body="")
        if event_id and not claim(str(event_id)):
            log.info("duplicate delivery of event %s ignored", event_id)
            return BoltResponse(status=200, body="")
        return next()

    return middleware
