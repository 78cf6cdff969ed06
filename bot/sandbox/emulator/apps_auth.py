"""auth.test, apps.connections.open and the Socket Mode side of the emulator."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bot.sandbox.emulator.base import EmulatorBase, web_api
from bot.sandbox.socket_server import SocketAck


class AppsAuthApi(EmulatorBase):
    """Who the token is, and Socket Mode: connection URLs, envelopes sent to the app, acks."""

    @web_api("auth.test")
    def _auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/", "team": self.team_name,
            "user": self.bot_name, "team_id": self.team_id, "user_id": self.bot_user_id,
            "bot_id": self.bot_id, "is_enterprise_install": False,
        }

    @web_api("apps.connections.open")
    def _apps_connections_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": self._socket.url_for(ticket)}

    def socket_send(
        self, payload_type: str, payload: dict[str, Any], *,
        accepts_response_payload: bool | None = None, retry_attempt: int = 0,
        retry_reason: str = "", wait_for_client: float = 5.0,
    ) -> str:
        """Send an envelope (events_api, slash_commands, interactive) to the connected app;
        returns its envelope_id."""
        return self._socket.send(payload_type, payload,
                                 accepts_response_payload=accepts_response_payload,
                                 retry_attempt=retry_attempt, retry_reason=retry_reason,
                                 wait_for_client=wait_for_client)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        return self._socket.wait_for_ack(envelope_id, timeout)

    def wait_for_socket_client(self, timeout: float = 5.0) -> None:
        self._socket.wait_for_client(timeout)

    @property
    def socket_acks(self) -> list[SocketAck]:
        return self._socket.acks

    def socket_close(self, code: int = 1000, reason: str = "") -> None:
        """Close every Socket Mode connection from the server side (turn the client's
        auto-reconnect off first, or it will open a new one)."""
        self._socket.close_clients(code, reason)

    def close_socket_mode(self, handler: Any, timeout: float = 3.0) -> None:
        """Shut down a Bolt SocketModeHandler (or a slack_sdk SocketModeClient) connected here,
        quickly and without tripping slack_sdk's races: no reconnect, our close frame first,
        then the client's close() once it has dropped the socket itself."""
        client = getattr(handler, "client", handler)
        client.auto_reconnect_enabled = False
        self.socket_close()
        deadline = time.monotonic() + timeout
        # The built-in client's disconnect() checks `sock` outside its lock; calling close()
        # while its receive thread is still dropping the socket raises AttributeError.
        while client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        handler.close()

    def _ticket_ok(self, ticket: str) -> bool:
        with self._lock:
            return ticket in self._tickets
