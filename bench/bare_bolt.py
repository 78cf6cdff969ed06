"""A bare Bolt app for ack_latency.py's baseline: /emptychair acked with no work, over HTTP."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.slack.server import HttpServer


def build() -> App:
    client = WebClient(base_url=os.environ["SLACK_API_BASE_URL"],
                       token=os.environ["SLACK_BOT_TOKEN"])
    app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], client=client)

    @app.command("/emptychair")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def with_health(bolt: SlackRequestHandler) -> Callable[..., Iterable[bytes]]:
    """Bolt's plain WSGI adapter, plus the /healthz the benchmark waits for."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        return bolt(environ, start_response)

    return application


def main() -> int:
    app = build()
    # The server the bot is served with, so the ratio compares the apps, not the servers;
    # Bolt's own WSGI adapter in place of our front door and listeners.
    server = HttpServer(app, "127.0.0.1", int(os.environ["EMPTYCHAIR_PORT"]))
    server.server.set_app(with_health(SlackRequestHandler(app)))
    print(f"bare Bolt listening on {server.url}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
