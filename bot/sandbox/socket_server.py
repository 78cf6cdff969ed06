"""A local Socket Mode websocket server: sends Slack-shaped envelopes, records the app's acks."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

log = logging.getLogger(__name__)

# Slack sets accepts_response_payload for these; the app may answer in the ack (e.g. a command's
# ephemeral reply), never for Events API envelopes.
_ACCEPTS_RESPONSE = {"slash_commands": True, "interactive": True, "events_api": False}


@dataclass(frozen=True)
class SocketAck:
    """One acknowledgement the app sent back over the websocket."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float


class SocketModeServer:
    """Serves ws://127.0.0.1:PORT/link/?ticket=… for tickets that `ticket_ok` accepts."""

    def __init__(self, ticket_ok: Callable[[str], bool], app_id: str, host: str = "127.0.0.1"
                 ) -> None:
        self._ticket_ok = ticket_ok
        self._app_id = app_id
        self._host = host
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._clients: list[ServerConnection] = []
        self._acks: dict[str, SocketAck] = {}
        self._messages: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._server = serve(
            self._handle, self._host, 0,
            process_request=self._check_ticket,
            # Slack's frames are plain JSON text; the built-in client never negotiates deflate.
            compression=None,
            # The app pings us; our own pings would only add noise to short tests.
            ping_interval=None,
            # slack_sdk's built-in client drops the socket instead of answering a close frame.
            close_timeout=1,
            logger=log,
        )
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="sandbox-socket-mode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Socket Mode server is not running")
        return int(self._server.socket.getsockname()[1])

    def url_for(self, ticket: str) -> str:
        return f"ws://{self._host}:{self.port}/link/?ticket={ticket}&app_id={self._app_id}"

    # ----------------------------------------------------------------- websocket side
    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        if parts.path.rstrip("/") != "/link" or not self._ticket_ok(ticket):
            return connection.respond(401, "invalid or unknown ticket\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._cond:
            self._clients.append(connection)
            count = len(self._clients)
            self._cond.notify_all()
        try:
            connection.send(json.dumps({
                "type": "hello",
                "num_connections": count,
                "debug_info": {"host": "sandbox-emulator", "build_number": 1,
                               "approximate_connection_time": 3600},
                "connection_info": {"app_id": self._app_id},
            }))
            for raw in connection:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if connection in self._clients:
                    self._clients.remove(connection)
                self._cond.notify_all()

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("socket mode: ignored a frame that is not JSON")
            return
        if not isinstance(message, dict):
            return
        with self._cond:
            self._messages.append(message)
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str):
                payload = message.get("payload")
                self._acks[envelope_id] = SocketAck(
                    envelope_id=envelope_id,
                    payload=payload if isinstance(payload, dict) else None,
                    at=time.time(),
                )
            self._cond.notify_all()

    # ----------------------------------------------------------------- test-facing API
    @property
    def client_count(self) -> int:
        with self._cond:
            return len(self._clients)

    @property
    def acks(self) -> list[SocketAck]:
        with self._cond:
            return sorted(self._acks.values(), key=lambda a: a.at)

    def wait_for_client(self, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._clients), timeout=timeout):
                raise AssertionError(f"no Socket Mode client connected within {timeout}s")

    def send(
        self, payload_type: str, payload: dict[str, Any], *,
        accepts_response_payload: bool | None = None, retry_attempt: int = 0,
        retry_reason: str = "", wait_for_client: float = 5.0,
    ) -> str:
        """Send one envelope; returns its envelope_id."""
        self.wait_for_client(wait_for_client)
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "accepts_response_payload": (
                _ACCEPTS_RESPONSE.get(payload_type, False)
                if accepts_response_payload is None else accepts_response_payload
            ),
            "payload": payload,
        }
        if payload_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        with self._cond:
            # Slack hands each envelope to one of the app's connections, never to all of them;
            # the newest one is the one most likely to be alive.
            target = self._clients[-1]
        target.send(json.dumps(envelope))
        return envelope_id

    def disconnect_clients(self, reason: str = "warning") -> None:
        """Ask every client to reconnect, as Slack does before it rotates a connection."""
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            try:
                client.send(json.dumps({"type": "disconnect", "reason": reason,
                                        "debug_info": {"host": "sandbox-emulator"}}))
            except ConnectionClosed:
                continue

    def close_clients(self, code: int = 1000, reason: str = "") -> None:
        """Close every connection from our side. slack_sdk's built-in client only notices its
        own close() after a 3 s receive timeout; a close frame from us ends its loop at once."""
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            client.close(code, reason)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self._acks, timeout=timeout):
                seen = [m.get("envelope_id") for m in self._messages]
                raise AssertionError(
                    f"no ack for envelope {envelope_id} within {timeout}s; acks so far: {seen}"
                )
            return self._acks[envelope_id]
