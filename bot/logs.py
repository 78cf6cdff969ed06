"""Structured logging: key=value lines carrying the Slack request id; never tokens or text."""

from __future__ import annotations

import contextvars
import logging

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """One handler on the root logger; every line says which Slack request it belongs to."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s level=%(levelname)s logger=%(name)s request=%(request_id)s %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slack_sdk logs request bodies at DEBUG (complaint text, tokens in headers are masked but
    # bodies are not): keep it at INFO whatever the bot's level.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, root.level))
