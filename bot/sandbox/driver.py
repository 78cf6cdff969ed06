"""Plays Slack's side of a conversation: signed slash commands, events and actions to the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from bot.sandbox.emulator import SlackEmulator

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Slack's own deliveries carry these; the app never checks them, the sample payloads do.
VERIFICATION_TOKEN = "sandbox-verification-token"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass(frozen=True)
class DriverResponse:
    """What the app answered. `ts` is the human message's ts for user_says()."""

    status: int
    body: str
    elapsed_ms: float
    ts: str | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class SentRequest:
    """The exact bytes and headers of one delivery, so a test can replay it as an attacker
    who captured it would."""

    body: bytes
    headers: dict[str, str]


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature over any bytes.

    Not slack_sdk's SignatureVerifier.generate_signature: it decodes the body as UTF-8 first, so
    it cannot sign the undecodable bodies the hardening tests send to the front door.
    """
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def new_ts() -> str:
    now = time.time()
    return f"{int(now)}.{int(now * 1_000_000) % 1_000_000:06d}"


class SlackDriver:
    """Sends what Slack would send to a Bolt app.

    transport="http": signed POSTs to `app_url` (e.g. http://127.0.0.1:PORT/slack/events).
    transport="socket": the same payloads as Socket Mode envelopes via the emulator's websocket;
    the response is the app's ack (status 200, body = the ack's payload as JSON, if any).
    """

    def __init__(
        self, app_url: str | None = None, signing_secret: str = "", *,
        emulator: SlackEmulator | None = None,
        transport: Literal["http", "socket"] = "http", timeout: float = 10.0,
        team_id: str | None = None, api_app_id: str | None = None,
        bot_user_id: str | None = None,
    ) -> None:
        if transport == "http" and not app_url:
            raise ValueError("the http transport needs app_url")
        if transport == "socket" and emulator is None:
            raise ValueError("the socket transport needs the emulator")
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.transport = transport
        self.timeout = timeout
        self.team_id = team_id or (emulator.team_id if emulator else "T0001")
        self.team_domain = emulator.team_domain if emulator else "emptychair-sandbox"
        self.api_app_id = api_app_id or (emulator.app_id if emulator else "A0EMPTYCHAIR")
        self.bot_user_id = bot_user_id or (emulator.bot_user_id if emulator else "U0BOT")
        self.last_response_url: str | None = None
        self.last_request: SentRequest | None = None

    # ================================================================= raw HTTP
    def send(
        self, body: bytes, content_type: str, *, timestamp: int | str | None = None,
        signature: str | None = None, retry_num: int | None = None,
        retry_reason: str = "http_timeout", headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        """POST `body` as Slack would. Pass `timestamp` (e.g. ten minutes ago) and/or a
        `signature` to forge or replay; otherwise the request is signed correctly."""
        if not self.app_url:
            raise ValueError("send() needs an app_url (the http transport)")
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None
            else sign(self.signing_secret, ts, body),
        }
        if retry_num is not None:
            sent["X-Slack-Retry-Num"] = str(retry_num)
            sent["X-Slack-Retry-Reason"] = retry_reason
        sent.update(headers or {})
        self.last_request = SentRequest(body, dict(sent))
        return self._post(body, sent)

    def resend(self, request: SentRequest) -> DriverResponse:
        """Deliver `request` again byte for byte: same timestamp, same signature."""
        return self._post(request.body, dict(request.headers))

    def _post(self, body: bytes, sent: dict[str, str]) -> DriverResponse:
        assert self.app_url is not None
        request = urllib.request.Request(self.app_url, data=body, headers=sent, method="POST")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                status, text = resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode("utf-8", "replace")
        return DriverResponse(status, text, (time.perf_counter() - start) * 1000)

    # ================================================================= payload builders
    def event_body(
        self, event: dict[str, Any], *, event_id: str | None = None,
        event_time: int | None = None,
    ) -> dict[str, Any]:
        """The event_callback envelope Slack wraps every Events API event in."""
        context = base64.b64encode(json.dumps(
            {"et": event.get("type"), "tid": self.team_id}).encode()).decode()
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:12].upper()}",
            "event_time": int(time.time()) if event_time is None else event_time,
            "authorizations": [{
                "enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                "is_bot": True, "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
            "event_context": f"4-{context}",
        }

    def _user_obj(self, user: str) -> dict[str, Any]:
        name = self._user_name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _user_name(self, user: str) -> str:
        if self.emulator is not None:
            try:
                return str(self.emulator.user(user)["name"])
            except ValueError:
                pass  # an unknown user still gets a plausible name
        return user.lower()

    def _channel_info(self, channel: str) -> dict[str, Any]:
        if self.emulator is not None:
            try:
                return self.emulator.channel(channel)
            except ValueError:
                pass
        return {"id": channel, "name": "sandbox", "is_private": False, "is_im": False}

    def _channel_type(self, channel: str) -> str:
        info = self._channel_info(channel)
        return "im" if info.get("is_im") else "group" if info.get("is_private") else "channel"

    def _response_url(self, kind: str, *, channel: str, user: str,
                      thread_ts: str | None = None, message_ts: str | None = None) -> str:
        key = f"{kind}-{uuid.uuid4().hex[:12]}"
        if self.emulator is not None:
            url = self.emulator.response_url_for(key, channel=channel, user=user,
                                                 thread_ts=thread_ts, message_ts=message_ts)
        else:
            # Loopback discard port: an app that answers gets a connection error, never the
            # internet.
            url = f"http://127.0.0.1:9/response/{key}"
        self.last_response_url = url
        return url

    def _stored_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        if self.emulator is None:
            return None
        try:
            return self.emulator.message(channel, ts)
        except ValueError:
            return None

    # ================================================================= delivery
    def _deliver(
        self, *, socket_type: str, payload: dict[str, Any], http_body: bytes,
        content_type: str, retry_num: int | None = None, retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        if self.transport == "http":
            return self.send(http_body, content_type, retry_num=retry_num,
                             retry_reason=retry_reason)
        assert self.emulator is not None
        start = time.perf_counter()
        envelope_id = self.emulator.socket_send(
            socket_type, payload, retry_attempt=retry_num or 0,
            retry_reason=retry_reason if retry_num else "")
        ack = self.emulator.wait_for_ack(envelope_id, timeout=self.timeout)
        body = json.dumps(ack.payload) if ack.payload else ""
        return DriverResponse(200, body, (time.perf_counter() - start) * 1000)

    def _interactive(self, payload: dict[str, Any]) -> DriverResponse:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._deliver(socket_type="interactive", payload=payload, http_body=body,
                             content_type=FORM)

    # ================================================================= what Slack sends
    def slash_command(
        self, text: str, channel: str = "C0MEET", user: str = "U0ALICE",
        command: str = "/emptychair", response_url: str | None = None,
        trigger_id: str | None = None, *, retry_num: int | None = None,
    ) -> DriverResponse:
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_info(channel).get("name", "sandbox"),
            "user_id": user,
            "user_name": self._user_name(user),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url
            or self._response_url("cmd", channel=channel, user=user),
            "trigger_id": trigger_id or _trigger_id(),
        }
        return self._deliver(socket_type="slash_commands", payload=dict(fields),
                             http_body=urlencode(fields).encode(), content_type=FORM,
                             retry_num=retry_num)

    def event(
        self, event: dict[str, Any], event_id: str | None = None, retry_num: int | None = None,
        event_time: int | None = None, *, retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        body = self.event_body(event, event_id=event_id, event_time=event_time)
        return self._deliver(socket_type="events_api", payload=body,
                             http_body=json.dumps(body).encode(), content_type=JSON,
                             retry_num=retry_num, retry_reason=retry_reason)

    def app_mention(
        self, channel: str, user: str, text: str, ts: str | None = None,
        thread_ts: str | None = None, *, event_id: str | None = None,
        retry_num: int | None = None,
    ) -> DriverResponse:
        event = self._user_event("app_mention", channel, user, text, ts, thread_ts)
        return self.event(event, event_id=event_id, retry_num=retry_num)

    def message_event(
        self, channel: str, user: str, text: str, ts: str | None = None,
        thread_ts: str | None = None, *, event_id: str | None = None,
        retry_num: int | None = None,
    ) -> DriverResponse:
        """A plain `message` event (message.channels / message.im subscriptions)."""
        event = self._user_event("message", channel, user, text, ts, thread_ts)
        event["channel_type"] = self._channel_type(channel)
        if thread_ts:
            parent = self._stored_message(channel, thread_ts)
            if parent and parent.get("user"):
                event["parent_user_id"] = parent["user"]
        return self.event(event, event_id=event_id, retry_num=retry_num)

    def _user_event(
        self, kind: str, channel: str, user: str, text: str, ts: str | None,
        thread_ts: str | None,
    ) -> dict[str, Any]:
        ts = ts or new_ts()
        event: dict[str, Any] = {
            "type": kind, "user": user, "text": text, "ts": ts, "channel": channel,
            "event_ts": ts, "team": self.team_id, "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def user_says(
        self, channel: str, user: str, text: str, thread_ts: str | None = None,
        mention: bool = True,
    ) -> DriverResponse:
        """A person writes in the channel (stored in the emulator, so conversations.replies
        sees it), then Slack tells the app: app_mention when `mention`, else a message event."""
        if self.emulator is None:
            raise ValueError("user_says() needs the emulator")
        mention_tag = f"<@{self.bot_user_id}>"
        if mention and mention_tag not in text:
            text = f"{mention_tag} {text}"
        ts = self.emulator.post_user_message(channel, user, text, thread_ts)
        send = self.app_mention if mention else self.message_event
        resp = send(channel, user, text, ts, thread_ts)
        return DriverResponse(resp.status, resp.body, resp.elapsed_ms, ts=ts)

    def user_dms(self, user: str, text: str, thread_ts: str | None = None) -> DriverResponse:
        """A person writes to the bot directly (the Messages tab, or with `thread_ts` the
        assistant panel's thread): stored in the DM, then a message.im event."""
        if self.emulator is None:
            raise ValueError("user_dms() needs the emulator")
        return self.user_says(self.emulator.dm_channel(user), user, text, thread_ts,
                              mention=False)

    def user_edits(self, channel: str, ts: str, text: str) -> DriverResponse:
        """A person edits a message: the emulator's copy changes, then message_changed."""
        if self.emulator is None:
            raise ValueError("user_edits() needs the emulator")
        before = self.emulator.edit_user_message(channel, ts, text)
        after = self.emulator.message(channel, ts) or {}
        return self.message_changed(channel, after, before)

    def user_deletes(self, channel: str, ts: str) -> DriverResponse:
        """A person deletes a message: gone from the emulator, then message_deleted."""
        if self.emulator is None:
            raise ValueError("user_deletes() needs the emulator")
        before = self.emulator.delete_user_message(channel, ts)
        return self.message_deleted(channel, before)

    def message_changed(self, channel: str, message: dict[str, Any],
                        previous: dict[str, Any]) -> DriverResponse:
        """The message_changed event Slack sends for an edit (subtype, hidden, both versions)."""
        ts = new_ts()
        return self.event({
            "type": "message", "subtype": "message_changed", "hidden": True,
            "channel": channel, "channel_type": self._channel_type(channel), "ts": ts,
            "event_ts": ts, "message": message, "previous_message": previous,
        })

    def message_deleted(self, channel: str, previous: dict[str, Any]) -> DriverResponse:
        ts = new_ts()
        return self.event({
            "type": "message", "subtype": "message_deleted", "hidden": True,
            "channel": channel, "channel_type": self._channel_type(channel), "ts": ts,
            "event_ts": ts, "deleted_ts": previous.get("ts", ""),
            "previous_message": previous,
        })

    def bot_posts(self, channel: str, text: str, bot_id: str = "B0OTHER",
                  username: str = "Integration") -> DriverResponse:
        """Another app or integration posts (subtype bot_message, no user)."""
        ts = new_ts()
        return self.event({
            "type": "message", "subtype": "bot_message", "bot_id": bot_id,
            "username": username, "text": text, "ts": ts, "event_ts": ts,
            "channel": channel, "channel_type": self._channel_type(channel),
        })

    def assistant_thread_started(
        self, user: str = "U0ALICE", thread_ts: str | None = None,
        context_channel: str = "C0MEET",
    ) -> DriverResponse:
        """A person opens the app in the assistant side panel: a new thread in their DM."""
        if self.emulator is None:
            raise ValueError("assistant_thread_started() needs the emulator")
        dm = self.emulator.dm_channel(user)
        thread_ts = thread_ts or new_ts()
        return self.event({
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": user, "channel_id": dm, "thread_ts": thread_ts,
                "context": {"channel_id": context_channel, "team_id": self.team_id,
                            "enterprise_id": None},
            },
            "event_ts": new_ts(),
        })

    def app_home_opened(self, user: str = "U0ALICE", tab: str = "home") -> DriverResponse:
        ts = new_ts()
        return self.event({"type": "app_home_opened", "user": user, "channel": "D" + user[1:],
                           "tab": tab, "event_ts": ts})

    def message_shortcut(
        self, callback_id: str, channel: str, message_ts: str, message_text: str | None = None,
        thread_ts: str | None = None, user: str = "U0ALICE",
    ) -> DriverResponse:
        message = self._stored_message(channel, message_ts) or {
            "type": "message", "user": "U0BOB", "ts": message_ts, "text": "",
        }
        if message_text is not None:
            message["text"] = message_text
        if thread_ts:
            message["thread_ts"] = thread_ts
        payload = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": new_ts(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user_obj(user),
            "channel": {"id": channel, "name": self._channel_info(channel).get("name")},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": _trigger_id(),
            "response_url": self._response_url("shortcut", channel=channel, user=user,
                                               thread_ts=message.get("thread_ts")),
            "message_ts": message_ts,
            "message": message,
        }
        return self._interactive(payload)

    def block_action(
        self, action_id: str, value: str, channel: str, message_ts: str,
        user: str = "U0ALICE", block_id: str | None = None,
        message: dict[str, Any] | None = None, thread_ts: str | None = None,
    ) -> DriverResponse:
        """A button click on a message (the stored one, when the emulator has it)."""
        message = message or self._stored_message(channel, message_ts) or {
            "type": "message", "ts": message_ts, "text": "", "blocks": [],
        }
        thread_ts = thread_ts or (message.get("thread_ts")
                                  if message.get("thread_ts") != message_ts else None)
        found_block, label = _find_button(message.get("blocks") or [], action_id)
        container: dict[str, Any] = {"type": "message", "message_ts": message_ts,
                                     "channel_id": channel, "is_ephemeral": False}
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": _trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_info(channel).get("name")},
            "message": message,
            "state": {"values": {}},
            "response_url": self._response_url("action", channel=channel, user=user,
                                               thread_ts=thread_ts, message_ts=message_ts),
            "actions": [{
                "action_id": action_id,
                "block_id": block_id or found_block or "sandbox_block",
                "text": {"type": "plain_text", "text": label or value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": new_ts(),
            }],
        }
        return self._interactive(payload)

    def view_submission(
        self, callback_id: str, values: Mapping[str, Mapping[str, Any]], *,
        user: str = "U0ALICE", private_metadata: str = "", view_id: str | None = None,
    ) -> DriverResponse:
        """Submit a modal; a plain string value becomes a plain_text_input state."""
        state = {
            block: {action: (v if isinstance(v, dict)
                             else {"type": "plain_text_input", "value": v})
                    for action, v in actions.items()}
            for block, actions in values.items()
        }
        opened = [v for v in (self.emulator.modals if self.emulator else [])
                  if v.get("callback_id") == callback_id]
        view: dict[str, Any]
        if opened:  # submit what the app actually opened, as Slack would
            view = {k: v for k, v in opened[-1].items() if k != "trigger_id"}
        else:
            view = {"id": view_id or "V0SANDBOX", "type": "modal", "blocks": [],
                    "title": {"type": "plain_text", "text": "Empty chair"}}
        view.update({"team_id": self.team_id, "callback_id": callback_id,
                     "state": {"values": state}, "app_id": self.api_app_id})
        if private_metadata or "private_metadata" not in view:
            view["private_metadata"] = private_metadata
        if view_id:
            view["id"] = view_id
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": _trigger_id(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "response_urls": [],
        }
        return self._interactive(payload)

    def url_verification(self, challenge: str) -> DriverResponse:
        body = json.dumps({"token": VERIFICATION_TOKEN, "challenge": challenge,
                           "type": "url_verification"}).encode()
        return self.send(body, JSON)


def _trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def _find_button(blocks: list[dict[str, Any]], action_id: str) -> tuple[str | None, str | None]:
    """(block_id, label) of the element with `action_id`, so a click looks like the real one."""
    for block in blocks:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                text = element.get("text")
                label = text.get("text") if isinstance(text, dict) else None
                return block.get("block_id"), label
    return None, None
