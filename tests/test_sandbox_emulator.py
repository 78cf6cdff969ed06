"""The sandbox Slack: emulator, driver and renderer against the real slack_sdk and Bolt."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.sandbox.driver import FORM, JSON, SlackDriver, sign
from bot.sandbox.emulator import SlackEmulator, web_api
from bot.sandbox.render import plain, render_message, render_thread

SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-1-A0EMPTYCHAIR-1-test"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    return WebClient(base_url=emulator.base_url, token=BOT_TOKEN)


def _bolt_app(emulator: SlackEmulator) -> App:
    # The token rides on the client: passing token= as well only earns a Bolt warning.
    return App(signing_secret=SECRET,
               client=WebClient(base_url=emulator.base_url, token=BOT_TOKEN))


@pytest.fixture
def bolt(emulator: SlackEmulator) -> Iterator[tuple[App, SlackDriver]]:
    """A real Bolt app over HTTP on 127.0.0.1 (never app.start(): it binds 0.0.0.0)."""
    app = _bolt_app(emulator)
    server = make_server("127.0.0.1", 0, SlackRequestHandler(app),
                         server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    driver = SlackDriver(f"http://127.0.0.1:{server.server_port}/slack/events", SECRET,
                         emulator=emulator)
    try:
        yield app, driver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ===================================================================== Web API
def test_auth_test_is_what_bolt_expects(client: WebClient, emulator: SlackEmulator) -> None:
    resp = client.auth_test()
    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    assert resp["is_enterprise_install"] is False
    (call,) = emulator.calls_to("auth.test")
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"


def test_tokens_are_checked(emulator: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=emulator.base_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=emulator.base_url, token=APP_TOKEN).auth_test()
    assert err.value.response["error"] == "not_allowed_token_type"


def test_post_then_replies_in_a_thread_paginate(client: WebClient,
                                                emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel="C0MEET", text="Ship on Friday?")
    assert parent["channel"] == "C0MEET" and parent["message"]["text"] == "Ship on Friday?"
    human_ts = emulator.post_user_message("C0MEET", "U0ALICE", "what about refunds",
                                          thread_ts=parent["ts"])
    reply = client.chat_postMessage(channel="C0MEET", text="Customers ask…",
                                    thread_ts=parent["ts"],
                                    blocks=[{"type": "divider"}])
    assert parent["ts"] < human_ts < reply["ts"]

    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_replies(channel="C0MEET", ts=parent["ts"], limit=2,
                                            cursor=cursor)
        seen.extend(page["messages"])
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 2
    assert [m["ts"] for m in seen] == [parent["ts"], human_ts, reply["ts"]]
    assert seen[0]["reply_count"] == 2 and seen[0]["thread_ts"] == parent["ts"]
    assert seen[1]["user"] == "U0ALICE" and seen[2]["bot_id"] == "B0BOT"
    (call,) = [c for c in emulator.calls_to("chat.postMessage") if "blocks" in c.params]
    assert call.params["thread_ts"] == parent["ts"]
    assert call.params["blocks"] == [{"type": "divider"}]
    history = client.conversations_history(channel="C0MEET")["messages"]
    assert [m["ts"] for m in history] == [parent["ts"]]  # replies stay in the thread


def test_form_encoded_json_params_are_decoded(client: WebClient,
                                              emulator: SlackEmulator) -> None:
    client.api_call("chat.postMessage", params={
        "channel": "C0MEET", "text": "t", "blocks": json.dumps([{"type": "divider"}])})
    call = emulator.calls_to("chat.postMessage")[-1]
    assert call.headers["content-type"].startswith(FORM)
    assert call.params["blocks"] == [{"type": "divider"}]
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.sendTelepathically", json={"channel": "C0MEET"})
    assert err.value.response["error"] == "unknown_method"
    assert emulator.calls[-1].method == "chat.sendTelepathically"


def test_not_in_channel_join_and_injected_failure(client: WebClient,
                                                  emulator: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0RANDOM", text="hello")
    assert err.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0NOPE", text="hello")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err:
        client.conversations_join(channel="C0PRIVATE")
    assert err.value.response["error"] == "channel_not_found"

    assert client.conversations_join(channel="C0RANDOM")["channel"]["is_member"] is True
    assert client.chat_postMessage(channel="C0RANDOM", text="hello")["ok"]

    emulator.fail_next("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0MEET", text="again")
    assert err.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C0MEET", text="again")["ok"]
    assert len(emulator.calls_to("chat.postMessage")) == 5


def test_rate_limit_is_retried_by_slack_sdk(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0MEET", text="no retry handler")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"

    emulator.reset_calls()
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    # Retry-After 0 keeps the test quick: slack_sdk sleeps the header value plus < 1 s jitter.
    emulator.rate_limit_next("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel="C0MEET", text="retried")["ok"]
    assert len(emulator.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in emulator.messages("C0MEET")] == ["retried"]


def test_delay_slows_one_method(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.delay("users.info", 0.3)
    start = time.perf_counter()
    user = client.users_info(user="U0ALICE")["user"]
    assert time.perf_counter() - start >= 0.3
    assert user["tz"] == "Europe/Berlin" and user["tz_offset"] in (3600, 7200)
    emulator.delay("users.info", 0)


def test_a_marked_method_joins_the_web_api(emulator: SlackEmulator) -> None:
    class Extended(SlackEmulator):
        @web_api("team.info")
        def _team_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
            return {"team": {"id": self.team_id, "name": self.team_name}}

    with Extended() as extended:
        client = WebClient(base_url=extended.base_url, token=BOT_TOKEN)
        assert client.team_info()["team"]["id"] == "T0001"
        assert client.auth_test()["user_id"] == "U0BOT"
    with pytest.raises(SlackApiError) as caught:
        WebClient(base_url=emulator.base_url, token=BOT_TOKEN).team_info()
    assert caught.value.response["error"] == "unknown_method"


def test_files_upload_v2_takes_three_steps(client: WebClient, emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel="C0MEET", text="brief")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    resp = client.files_upload_v2(content=png, filename="trend.png", title="Trend",
                                  channel="C0MEET", thread_ts=parent["ts"],
                                  initial_comment="This week")
    assert resp["file"]["title"] == "Trend"
    assert [c.method for c in emulator.calls[1:]] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    complete = emulator.calls_to("files.completeUploadExternal")[0]
    assert complete.params["files"] == [{"id": resp["file"]["id"], "title": "Trend"}]
    stored = emulator.files[resp["file"]["id"]]
    assert (stored.content, stored.filename, stored.channel, stored.thread_ts) == (
        png, "trend.png", "C0MEET", parent["ts"])
    shared = emulator.thread("C0MEET", parent["ts"])[-1]
    assert shared["files"][0]["name"] == "trend.png" and shared["text"] == "This week"


def test_streaming_start_append_stop(client: WebClient, emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel="C0MEET", text="Ship on Friday?")
    start = client.chat_startStream(channel="C0MEET", thread_ts=parent["ts"],
                                    markdown_text="Reading ", recipient_user_id="U0ALICE",
                                    recipient_team_id="T0001")
    assert emulator.is_streaming("C0MEET", start["ts"])
    client.chat_appendStream(channel="C0MEET", ts=start["ts"], markdown_text="complaints…")
    stop = client.chat_stopStream(channel="C0MEET", ts=start["ts"],
                                  blocks=[{"type": "divider"}])
    assert stop["message"]["text"] == "Reading complaints…"
    assert not emulator.is_streaming("C0MEET", start["ts"])
    with pytest.raises(SlackApiError) as err:
        client.chat_appendStream(channel="C0MEET", ts=start["ts"], markdown_text="late")
    assert err.value.response["error"] == "message_not_in_streaming_state"

    # slack_sdk's helper buffers and sends markdown as `chunks`, not markdown_text.
    stream = client.chat_stream(channel="C0MEET", thread_ts=parent["ts"], buffer_size=8,
                                recipient_user_id="U0ALICE", recipient_team_id="T0001")
    stream.append(markdown_text="Customers ")  # fills the buffer: chat.startStream
    stream.append(markdown_text="said no, ")  # chat.appendStream
    stream.stop(markdown_text="loudly.")
    assert stream.ts is not None
    message = emulator.message("C0MEET", stream.ts)
    assert message is not None and message["text"] == "Customers said no, loudly."
    assert message["thread_ts"] == parent["ts"]
    methods = [c.method for c in emulator.calls if "Stream" in c.method]
    assert methods[-3:] == ["chat.startStream", "chat.appendStream", "chat.stopStream"]


def test_views_reactions_status_and_ephemeral(client: WebClient,
                                              emulator: SlackEmulator) -> None:
    ts = emulator.post_user_message("C0MEET", "U0BOB", "we drop the free tier")
    client.reactions_add(channel="C0MEET", timestamp=ts, name="eyes")
    assert emulator.message("C0MEET", ts)["reactions"][0]["users"] == ["U0BOT"]  # type: ignore[index]
    client.reactions_remove(channel="C0MEET", timestamp=ts, name="eyes")
    assert "reactions" not in emulator.message("C0MEET", ts)  # type: ignore[operator]
    client.assistant_threads_setStatus(channel_id="C0MEET", thread_ts=ts, status="is reading…")
    assert emulator.assistant_statuses[("C0MEET", ts)] == "is reading…"
    view = {"type": "home", "blocks": [{"type": "divider"}]}
    published = client.views_publish(user_id="U0ALICE", view=view)["view"]
    assert emulator.home_views["U0ALICE"]["id"] == published["id"]
    eph = client.chat_postEphemeral(channel="C0MEET", user="U0BOB", text="psst")
    assert emulator.ephemerals[-1]["message_ts"] == eph["message_ts"]


def test_on_change_reports_new_messages(client: WebClient, emulator: SlackEmulator) -> None:
    seen: list[tuple[str, str]] = []
    emulator.on_change(lambda kind, data: seen.append((kind, data.get("channel", ""))))
    client.chat_postMessage(channel="C0MEET", text="hi")
    assert ("message", "C0MEET") in seen


# ===================================================================== Bolt over HTTP
def test_signed_slash_command_reaches_bolt(bolt: tuple[App, SlackDriver],
                                           emulator: SlackEmulator) -> None:
    app, driver = bolt
    got: list[dict[str, Any]] = []

    @app.command("/emptychair")
    def command(ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        got.append(body)
        client.chat_postMessage(channel=body["channel_id"], text=f"Proposal: {body['text']}")
        respond(text="Posted the customer's view.", response_type="ephemeral")

    resp = driver.slash_command("we should ship on Friday")
    assert resp.status == 200
    (post,) = emulator.wait_for("chat.postMessage")
    # Bolt's per-request client adds team_id to every call it makes.
    assert post.params == {"channel": "C0MEET", "text": "Proposal: we should ship on Friday",
                           "team_id": "T0001"}
    (answer,) = emulator.wait_for("response_url")
    assert answer.params["text"] == "Posted the customer's view."
    assert got[0]["user_id"] == "U0ALICE" and got[0]["channel_name"] == "product-meeting"
    assert emulator.ephemerals[-1]["user"] == "U0ALICE"


def test_forged_and_stale_requests_get_401(bolt: tuple[App, SlackDriver],
                                           emulator: SlackEmulator) -> None:
    app, driver = bolt
    called: list[int] = []

    @app.event("app_mention")
    def mention(ack: Any) -> None:
        called.append(1)
        ack()

    body = json.dumps(driver.event_body({"type": "app_mention", "channel": "C0MEET",
                                         "user": "U0ALICE", "text": "hi", "ts": "1.2"})).encode()
    assert driver.send(body, JSON, signature="v0=" + "0" * 64).status == 401
    stale = int(time.time()) - 600
    assert driver.send(body, JSON, timestamp=stale).status == 401
    # The stale one was signed correctly: only its age is wrong.
    assert sign(SECRET, str(stale), body) != sign(SECRET, str(stale + 1), body)
    assert driver.send(body, JSON).status == 200
    assert called == [1]


def test_user_says_mention_in_thread(bolt: tuple[App, SlackDriver],
                                     emulator: SlackEmulator) -> None:
    app, driver = bolt
    retries: list[str | None] = []

    @app.event("app_mention")
    def mention(ack: Any, event: dict[str, Any], client: WebClient, request: Any) -> None:
        ack()
        retries.append((request.headers.get("x-slack-retry-num") or [None])[0])
        thread_ts = event.get("thread_ts") or event["ts"]
        replies = client.conversations_replies(channel=event["channel"], ts=thread_ts)
        texts = [m["text"] for m in replies["messages"]]
        client.chat_postMessage(channel=event["channel"], thread_ts=thread_ts,
                                text=f"I read {len(texts)}: {texts[0]}")

    parent = emulator.post_user_message("C0MEET", "U0BOB", "Let's remove the phone line")
    resp = driver.user_says("C0MEET", "U0ALICE", "what would customers say?", thread_ts=parent)
    assert resp.status == 200 and resp.ts is not None
    (post,) = emulator.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == parent
    assert post.params["text"] == "I read 2: Let's remove the phone line"
    assert "<@U0BOT>" in emulator.message("C0MEET", resp.ts)["text"]  # type: ignore[index]

    driver.app_mention("C0MEET", "U0ALICE", "<@U0BOT> again", ts=resp.ts, thread_ts=parent,
                       event_id="Ev0RETRY", retry_num=1)
    emulator.wait_for("chat.postMessage", count=2)
    assert retries == [None, "1"]


def test_actions_shortcuts_and_url_verification(bolt: tuple[App, SlackDriver],
                                                emulator: SlackEmulator,
                                                client: WebClient) -> None:
    app, driver = bolt
    clicks: list[dict[str, Any]] = []
    shortcuts: list[dict[str, Any]] = []

    @app.action("chair_vote_up")
    def vote(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        clicks.append(body)
        respond(text="Thanks for the vote", replace_original=True)

    @app.shortcut("ask_empty_chair")
    def shortcut(ack: Any, body: dict[str, Any]) -> None:
        shortcuts.append(body)  # before ack: the HTTP response must not beat the append
        ack()

    posted = client.chat_postMessage(channel="C0MEET", text="challenge", blocks=[
        {"type": "actions", "block_id": "votes", "elements": [
            {"type": "button", "action_id": "chair_vote_up", "value": "0",
             "text": {"type": "plain_text", "text": "Useful"}}]}])
    assert driver.block_action("chair_vote_up", "0", "C0MEET", posted["ts"]).status == 200
    emulator.wait_for("response_url")
    action = clicks[0]["actions"][0]
    assert (action["block_id"], action["text"]["text"]) == ("votes", "Useful")
    assert emulator.message("C0MEET", posted["ts"])["text"] == "Thanks for the vote"  # type: ignore[index]

    human = emulator.post_user_message("C0MEET", "U0BOB", "drop the phone line")
    assert driver.message_shortcut("ask_empty_chair", "C0MEET", human).status == 200
    assert shortcuts[0]["message"]["text"] == "drop the phone line"
    assert shortcuts[0]["message"]["user"] == "U0BOB"

    resp = driver.url_verification("3eZbrw1aBm2rZgRNFdxV")
    assert resp.status == 200 and "3eZbrw1aBm2rZgRNFdxV" in resp.body


# ===================================================================== Socket Mode
def test_socket_mode_round_trip(emulator: SlackEmulator) -> None:
    app = _bolt_app(emulator)
    mentions: list[dict[str, Any]] = []

    @app.event("app_mention")
    def mention(ack: Any, event: dict[str, Any], client: WebClient) -> None:
        ack()
        mentions.append(event)
        client.chat_postMessage(channel=event["channel"], thread_ts=event["ts"], text="heard")

    @app.command("/emptychair")
    def command(ack: Any) -> None:
        ack("on it")

    handler = SocketModeHandler(app, APP_TOKEN)
    try:
        handler.connect()
        emulator.wait_for_socket_client(timeout=3)
        (opened,) = emulator.calls_to("apps.connections.open")
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"

        driver = SlackDriver(emulator=emulator, transport="socket", timeout=3)
        ts = emulator.post_user_message("C0MEET", "U0ALICE", "<@U0BOT> ship it?")
        resp = driver.app_mention("C0MEET", "U0ALICE", "<@U0BOT> ship it?", ts)
        assert resp.status == 200
        (post,) = emulator.wait_for("chat.postMessage", timeout=3)
        assert post.params["thread_ts"] == ts and mentions[0]["ts"] == ts
        ack = emulator.socket_acks[0]
        assert ack.payload is None  # events are acked with no payload

        answer = driver.slash_command("help")
        assert answer.json() == {"text": "on it"}
    finally:
        # handler.close() alone waits out the client's 3 s receive timeout.
        emulator.close_socket_mode(handler)


def test_socket_mode_refuses_unknown_tickets(emulator: SlackEmulator) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        connect(f"ws://127.0.0.1:{emulator.socket_port}/link/?ticket=forged", open_timeout=2)
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=emulator.base_url, token=BOT_TOKEN).apps_connections_open(
            app_token=BOT_TOKEN)
    assert err.value.response["error"] == "not_allowed_token_type"


# ===================================================================== render
def test_render_message_blocks_as_terminal_text() -> None:
    msg = {
        "type": "message", "ts": "2.0", "thread_ts": "1.0", "user": "U0BOT", "bot_id": "B0BOT",
        "bot_profile": {"name": "emptychair"}, "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "The customer asks"}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": "*Why Friday?* <@U0ALICE> &amp; <!here>"},
             "fields": [{"type": "mrkdwn", "text": "*Theme:* refunds"}]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": "C-102 · 2026-11-02"},
                {"type": "image", "image_url": "https://x/y.png", "alt_text": "chart"}]},
            {"type": "divider"},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": "a", "text": {"type": "plain_text",
                                                              "text": "Addressed"}},
                {"type": "button", "action_id": "b", "text": {"type": "plain_text",
                                                              "text": "Not relevant"}}]},
            {"type": "image", "image_url": "https://x/t.png", "alt_text": "trend",
             "title": {"type": "plain_text", "text": "Trend"}},
            {"type": "rich_text", "elements": [
                {"type": "rich_text_quote", "elements": [{"type": "text", "text": "too slow"}]},
                {"type": "rich_text_list", "style": "bullet", "elements": [
                    {"type": "rich_text_section", "elements": [
                        {"type": "link", "url": "https://e.x", "text": "ticket"}]}]}]},
            {"type": "markdown", "text": "**bold** answer"},
        ],
    }
    out = render_message(msg, names={"U0ALICE": "alice"})
    lines = out.split("\n")
    assert lines[0] == "    ↳ emptychair [bot]"
    assert all(line.startswith("      ") for line in lines[1:] if line)
    assert "# The customer asks" in out and "fallback" not in out
    assert "*Why Friday?* @alice & @here" in out
    assert "*Theme:* refunds" in out
    assert "C-102 · 2026-11-02 · [image: chart]" in out
    assert "[Addressed] [Not relevant]" in out
    assert "[image: Trend]" in out
    assert "> too slow" in out and "• ticket (https://e.x)" in out
    assert "**bold** answer" in out and "─" * 10 in out


def test_render_plain_text_threads_and_streams() -> None:
    assert plain("see <https://a.b|the doc> in <#C1|general>") == \
        "see the doc (https://a.b) in #general"
    parent = {"ts": "1.0", "thread_ts": "1.0", "user": "U0BOB", "text": "ship it",
              "reply_count": 1, "reactions": [{"name": "eyes", "count": 1}]}
    streamed = {"ts": "2.0", "thread_ts": "1.0", "user": "U0BOT", "bot_id": "B0BOT",
                "streamed": True, "text": "Customers said no.", "blocks": [{"type": "divider"}],
                "is_streaming": True}
    out = render_thread([parent, streamed], names={"U0BOB": "bob"})
    assert out.startswith("bob\n  ship it\n  (1 reply)\n  :eyes: 1")
    assert "↳ B0BOT [bot] (typing…)" in out and "Customers said no." in out
    eph = render_message({"channel": "C0MEET", "user": "U0ALICE", "message_ts": "3.0",
                          "text": "psst"})
    assert eph.startswith("emptychair [bot] (only visible to U0ALICE)")
