"""Builds the Bolt App from settings, the service and a WebClient (Slack's or the sandbox's)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.calendar_feed import AllowList, FeedFetcher
from bot.config import Settings
from bot.foreground import Foreground
from bot.service import ChairService
from bot.slack import handlers
from bot.slack.chair import Chair
from bot.slack.dedup import delivery_middleware
from bot.slack.server import configure_front_door


class _DropClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, then warns
    that the token is unused on every start; the client (with our retry handlers and base URL)
    carries the same token, so the warning is noise in production logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("bot.slack.bolt")
_BOLT_LOG.addFilter(_DropClientTokenWarning())


def build_web_client(settings: Settings) -> WebClient:
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base_url,
                       timeout=15)
    # Rate limits honour Retry-After; transient network and 5xx errors get a couple more tries.
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client


def build_bolt_app(
    settings: Settings,
    service: ChairService,
    client: WebClient | None = None,
    *,
    on_schedules_changed: Callable[[], None] | None = None,
    foreground: Foreground | None = None,
) -> App:
    settings.require_slack()
    app = App(
        # Acks run on the request's own thread and the lazy listeners (the answers) on a pool of
        # their own size. Bolt's default runs both on one 5-thread pool, so five answers waiting
        # on the LLM starved every new ack past Slack's 3 s (bench/ack_latency.py measured it).
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="emptychair-answer"
        ),
        # Socket Mode requests come over an authenticated websocket, not signed HTTP.
        signing_secret=settings.slack_signing_secret or None,
        request_verification_enabled=bool(settings.slack_signing_secret),
        client=client or build_web_client(settings),  # carries the bot token
        logger=_BOLT_LOG,
    )
    configure_front_door(app, max_body_bytes=settings.max_body_bytes,
                         signing_secret=settings.slack_signing_secret)
    app.use(delivery_middleware())
    handlers.register(app, Chair(
        service=service,
        default_tz=settings.timezone,
        duplicate_window=settings.duplicate_window_seconds,
        on_schedules_changed=on_schedules_changed,
        fetch_feed=FeedFetcher(AllowList.parse(settings.calendar_allow_hosts)),
        max_calendars=settings.max_calendars_per_channel,
        bot_admins=frozenset(settings.admin_user_ids),
        foreground=foreground,
    ))
    return app
