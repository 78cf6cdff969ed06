"""De-duplication middleware: a retried or repeated event id gets an ack and no second answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse

from bot.logs import request_id

log = logging.getLogger(__name__)


def dedup_middleware(claim: Callable[[str], bool]) -> Callable[..., Any]:
    """Bolt global middleware; `claim(event_id)` is True only the first time an id is seen."""

    def middleware(body: dict[str, Any], next: Callable[[], Any]) -> Any:  # noqa: A002
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        request_id.set(str(event_id or body.get("trigger_id") or body.get("type") or "-"))
        log.info("slack request kind=%s", body.get("type") or body.get("command") or "?")
        if event_id and not claim(str(event_id)):
            log.info("duplicate delivery of event %s ignored", event_id)
            return BoltResponse(status=200, body="")
        return next()

    return middleware
