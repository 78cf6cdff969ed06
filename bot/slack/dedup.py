"""De-duplication: a retried or replayed delivery gets its ack and no second answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltRequest

from bot.logs import request_id

log = logging.getLogger(__name__)

DELIVERY = "emptychair_delivery"  # context key: (signature, timestamp, event id) of a request


def delivery_middleware() -> Callable[..., Any]:
    """Bolt global middleware: notes what identifies this delivery, with no I/O, so the ack is
    never held up; the claim itself is made by the answer's own thread (`first_delivery`)."""

    def middleware(req: BoltRequest, body: dict[str, Any], context: BoltContext,
                   next: Callable[[], Any]) -> Any:  # noqa: A002
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        request_id.set(str(event_id or body.get("trigger_id") or body.get("type") or "-"))
        log.info("slack request kind=%s", body.get("type") or body.get("command") or "?")
        signature = timestamp = ""
        if req.mode == "http":
            signature = (req.headers.get("x-slack-signature") or [""])[0]
            timestamp = (req.headers.get("x-slack-request-timestamp") or [""])[0]
        context[DELIVERY] = (signature, timestamp, str(event_id or ""))
        return next()

    return middleware


def first_delivery(context: BoltContext, claim_event: Callable[[str], bool],
                   claim_request: Callable[[str, str], bool]) -> bool:
    """True the first time this delivery is seen. Slack signs every delivery (retries included)
    afresh, so a repeated signature is a captured request played back; a repeated event id is
    Slack retrying. Either way the ack already went out and nothing more happens."""
    signature, timestamp, event_id = context.get(DELIVERY) or ("", "", "")
    if signature and not claim_request(signature, timestamp):
        log.info("replayed signed request ignored")
        return False
    if event_id and not claim_event(event_id):
        log.info("duplicate delivery of event %s ignored", event_id)
        return False
    return True
