"""Help-desk sync against local Zendesk and Intercom servers shaped as the vendors document.

The fake servers (tests/helpdesk_servers.py) follow these pages:
- Zendesk incremental exports, cursor-based (tickets, after_cursor, after_url, before_cursor,
  end_of_stream; deleted tickets come with status "deleted"; 429 with Retry-After):
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api/
- Zendesk ticket JSON as the export's example response shows it:
  https://developers.qodex.ai/integration-flows/zendesk-support-api/api-v2-incremental-tickets-3/incremental-ticket-export-cursor-based-3
- Intercom search for conversations (POST /conversations/search, query on updated_at as a
  UNIX timestamp, pagination.per_page up to 150 and pagination.starting_after):
  https://developers.intercom.com/docs/references/2.17/rest-api/api.intercom.io/conversations/searchconversations
  https://developers.intercom.com/docs/build-an-integration/learn-more/rest-apis/pagination/
- Intercom conversation.list (pages.next.starting_after, absent on the last page) and the
  conversation model (source.body, tags as a tag.list):
  https://developers.intercom.com/docs/references/rest-api/api.intercom.io/Models/conversation_list/
  https://developers.intercom.com/docs/references/2.0/rest-api/conversations/conversation-model/
- Intercom GET /me (the admin and its app's id_code):
  https://developers.intercom.com/intercom-api-reference/reference/identifyadmin
- Intercom rate limiting (429 with X-RateLimit-Reset as a UNIX time):
  https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting.md
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.store.db import Store
from bot.sync import RetryPolicy, SyncError, run_sync, schedule_syncs
from bot.sync.core import load_state
from bot.sync.intercom import OVERLAP_SECONDS, sync_intercom
from bot.sync.zendesk import sync_zendesk
from tests.helpdesk_servers import (
    INTERCOM_APP_ID,
    INTERCOM_TOKEN,
    ZENDESK_EMAIL,
    ZENDESK_TOKEN,
    FakeHelpDesk,
    failing,
    intercom_conversation,
    intercom_server,
    iso,
    reset_in,
    zendesk_server,
    zendesk_ticket,
)

ROOT = Path(__file__).resolve().parent.parent
FAST = RetryPolicy(attempts=3, max_wait=20, backoff=0.01, max_backoff=0.05)
T0 = 1_790_000_000  # 2026-09-21, the fake help desks' first update
HOUR = 3600
SYNC_ENV = ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_BASE_URL",
            "INTERCOM_TOKEN", "INTERCOM_BASE_URL", "EMPTYCHAIR_SYNC_MINUTES")
ROW = "id, created_at, text, theme, sub_theme, channel, severity, source, source_ref, url"


@pytest.fixture(autouse=True)
def no_sync_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SYNC_ENV:
        monkeypatch.delenv(name, raising=False)


def rows(db: Path, source: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            f"SELECT {ROW} FROM complaints WHERE source = ? ORDER BY id", [source]
        ).fetchall()


def count(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM complaints").fetchone()[0])


def zendesk_settings(desk: FakeHelpDesk, **extra: object) -> Settings:
    return load_settings(zendesk_base_url=desk.base, zendesk_email=ZENDESK_EMAIL,
                         zendesk_api_token=ZENDESK_TOKEN, **extra)


def intercom_settings(desk: FakeHelpDesk) -> Settings:
    return load_settings(intercom_base_url=desk.base, intercom_token=INTERCOM_TOKEN)


def cursor_of(ticket: dict[str, Any]) -> str:
    return base64.b64encode(f"{ticket['generated_timestamp']}.0||{ticket['id']}|".encode()).decode()


# ------------------------------------------------------------------------------------ Zendesk

PII = "My parcel never came. Email me at jane.doe@example.com or call +1 415 555 0134."


def seed_zendesk(desk: FakeHelpDesk) -> None:
    b = desk.base
    for ticket in (
        zendesk_ticket(b, 101, PII, updated=T0, tags=["delivery", "late"]),
        zendesk_ticket(b, 102, "The refund never arrived.", updated=T0 + HOUR,
                       tags=["refunds"]),
        zendesk_ticket(b, 103, "", updated=T0 + 2 * HOUR, tags=["returns"]),  # no text
        zendesk_ticket(b, 104, "<p>Checkout <b>crashed</b> twice.</p>", updated=T0 + 3 * HOUR,
                       tags=["app", "checkout"]),
        zendesk_ticket(b, 105, "Spam", updated=T0 + 4 * HOUR, tags=[], status="deleted"),
    ):
        desk.items[str(ticket["id"])] = ticket


def expected_zendesk_rows(base: str) -> list[tuple[Any, ...]]:
    return [
        ("zendesk-101", iso(T0 - HOUR), "My parcel never came. Email me at [email] or call "
         "[phone].", "delivery", "late", "web", "high", "zendesk", "ticket 101",
         f"{base}/agent/tickets/101"),
        ("zendesk-102", iso(T0), "The refund never arrived.", "refunds", "", "web", "high",
         "zendesk", "ticket 102", f"{base}/agent/tickets/102"),
        ("zendesk-104", iso(T0 + 2 * HOUR), "Checkout crashed twice.", "app", "checkout", "web",
         "high", "zendesk", "ticket 104", f"{base}/agent/tickets/104"),
    ]


def test_zendesk_first_run_stores_exact_rows(store: Store, tmp_path: Path) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        summary = sync_zendesk(store, zendesk_settings(desk), policy=FAST)

    assert summary.line() == (
        "zendesk: fetched 5, imported 3, updated 0, deleted 0, rejected 1"
    )
    assert summary.rejects == [("ticket 103", "missing text")]
    assert rows(store.path, "zendesk") == expected_zendesk_rows(desk.base)
    with closing(sqlite3.connect(store.path)) as conn:
        attrs = json.loads(conn.execute(
            "SELECT attributes FROM complaints WHERE id = 'zendesk-101'").fetchone()[0])
    assert attrs["subject"] == "Help, my order"
    assert attrs["recipient"] == "[email]"
    assert not {"requester_id", "assignee_id", "submitter_id"} & set(attrs)
    # Three pages of two: start_time=0, then the after_cursor of each page.
    sent = [r.query for r in desk.requests]
    tickets = sorted(desk.items.values(), key=lambda t: t["id"])
    assert sent == [{"start_time": "0"}, {"cursor": cursor_of(tickets[1])},
                    {"cursor": cursor_of(tickets[3])}]
    assert load_state(store, "zendesk").cursor == cursor_of(tickets[4])


def test_zendesk_resume_fetches_only_new_pages(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        settings = zendesk_settings(desk)
        sync_zendesk(store, settings, policy=FAST)
        stored_cursor = load_state(store, "zendesk").cursor
        desk.requests.clear()
        for i in (106, 107, 108):
            ticket = zendesk_ticket(desk.base, i, f"New complaint {i} about the courier.",
                                    updated=T0 + (i - 100) * HOUR, tags=["delivery"])
            desk.items[str(i)] = ticket
        summary = sync_zendesk(store, settings, policy=FAST)

    assert summary.line() == "zendesk: fetched 3, imported 3, updated 0, deleted 0, rejected 0"
    assert desk.requests[0].query == {"cursor": stored_cursor}
    assert len(desk.requests) == 2  # two new pages, nothing from before
    assert [r[0] for r in rows(store.path, "zendesk")] == [
        "zendesk-101", "zendesk-102", "zendesk-104", "zendesk-106", "zendesk-107", "zendesk-108",
    ]


def test_zendesk_update_and_delete(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        settings = zendesk_settings(desk)
        sync_zendesk(store, settings, policy=FAST)
        desk.items["102"] = zendesk_ticket(
            desk.base, 102, "Refund arrived but only half of it. Card 4111 1111 1111 1111.",
            updated=T0 + 10 * HOUR, created=T0, tags=["billing", "partial"])
        desk.items["104"] = zendesk_ticket(desk.base, 104, "gone", updated=T0 + 11 * HOUR,
                                           tags=[], status="deleted")
        summary = sync_zendesk(store, settings, policy=FAST)

    assert summary.line() == "zendesk: fetched 2, imported 0, updated 1, deleted 1, rejected 0"
    got = {r[0]: r for r in rows(store.path, "zendesk")}
    assert sorted(got) == ["zendesk-101", "zendesk-102"]
    assert got["zendesk-102"][2:5] == (
        "Refund arrived but only half of it. Card [card].", "billing", "partial"
    )
    assert count(store.path) == 2


def test_zendesk_rate_limit_then_success(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        desk.fault = failing(1, 429, {"Retry-After": "1"})
        first = failing(1, 503, {"Retry-After": "0"}, when=lambda s: "cursor" in s.query)
        rate_limited = desk.fault

        def both(seen: Any) -> Any:
            return rate_limited(seen) or first(seen)

        desk.fault = both
        summary = sync_zendesk(store, zendesk_settings(desk), policy=FAST)

    assert summary.line() == "zendesk: fetched 5, imported 3, updated 0, deleted 0, rejected 1"
    assert [r.query for r in desk.requests][:2] == [{"start_time": "0"}, {"start_time": "0"}]
    assert len(desk.requests) == 5  # 3 pages + one 429 + one 503
    assert rows(store.path, "zendesk") == expected_zendesk_rows(desk.base)


def test_zendesk_retry_after_beyond_the_wait_cap_stops_at_once(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        desk.fault = failing(1, 429, {"Retry-After": "3600"})
        with pytest.raises(SyncError, match=r"^zendesk: 429 Too Many Requests from .* gave up "
                                             r"after 1 try; run the sync again later$"):
            sync_zendesk(store, zendesk_settings(desk), policy=FAST)
    assert len(desk.requests) == 1
    assert count(store.path) == 0


def test_zendesk_server_error_mid_run_loses_and_doubles_nothing(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        settings = zendesk_settings(desk)
        tickets = sorted(desk.items.values(), key=lambda t: t["id"])
        page_two = {"cursor": cursor_of(tickets[1])}
        desk.fault = failing(FAST.attempts, 500, when=lambda s: s.query == page_two)
        with pytest.raises(SyncError, match=r"^zendesk: HTTP 500 from .* gave up after 3 tries"):
            sync_zendesk(store, settings, policy=FAST)

        assert [r[0] for r in rows(store.path, "zendesk")] == ["zendesk-101", "zendesk-102"]
        assert load_state(store, "zendesk").cursor == page_two["cursor"]
        desk.requests.clear()
        summary = sync_zendesk(store, settings, policy=FAST)

    assert desk.requests[0].query == page_two
    assert summary.line() == "zendesk: fetched 3, imported 1, updated 0, deleted 0, rejected 1"
    assert rows(store.path, "zendesk") == expected_zendesk_rows(desk.base)


def test_zendesk_since_starts_from_that_date(store: Store) -> None:
    with zendesk_server() as desk:
        seed_zendesk(desk)
        since = datetime.fromtimestamp(T0 + 3 * HOUR, UTC)
        summary = sync_zendesk(store, zendesk_settings(desk), since=since, policy=FAST)

    assert desk.requests[0].query == {"start_time": str(T0 + 3 * HOUR)}
    assert summary.line() == "zendesk: fetched 2, imported 1, updated 0, deleted 0, rejected 0"


def test_zendesk_401_is_one_clear_error(store: Store) -> None:
    with zendesk_server() as desk:
        settings = load_settings(zendesk_base_url=desk.base, zendesk_email=ZENDESK_EMAIL,
                                 zendesk_api_token="wrong")
        with pytest.raises(SyncError) as info:
            sync_zendesk(store, settings, policy=FAST)
    assert str(info.value) == (
        "zendesk: 401 Unauthorized: check ZENDESK_EMAIL and ZENDESK_API_TOKEN"
    )
    assert len(desk.requests) == 1  # an auth failure is not retried


def test_zendesk_missing_settings_name_each_variable(store: Store) -> None:
    with pytest.raises(ConfigError) as info:
        run_sync("zendesk", store, load_settings(zendesk_subdomain="acme"))
    assert str(info.value) == "zendesk sync needs ZENDESK_EMAIL, ZENDESK_API_TOKEN (missing)"


# ----------------------------------------------------------------------------------------- CLI


def cli_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPENAI_", "EMPTYCHAIR_", "ZENDESK_", "INTERCOM_"))}
    env.update(EMPTYCHAIR_DB=str(db), EMPTYCHAIR_SENTENCE_ENCODER="false", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120,
                          check=False)


def test_cli_sync_zendesk_first_run_and_resume(tmp_path: Path) -> None:
    db = tmp_path / "chair.db"
    with zendesk_server() as desk:
        seed_zendesk(desk)
        env = cli_env(db, ZENDESK_BASE_URL=desk.base, ZENDESK_EMAIL=ZENDESK_EMAIL,
                      ZENDESK_API_TOKEN=ZENDESK_TOKEN)
        first = run_cli(tmp_path, env, "sync", "zendesk")
        desk.items["109"] = zendesk_ticket(desk.base, 109, "Wrong size delivered.",
                                           updated=T0 + 9 * HOUR, tags=["returns"])
        second = run_cli(tmp_path, env, "sync", "zendesk", "--no-vectors")

    assert first.returncode == 0, first.stderr
    assert first.stdout == "zendesk: fetched 5, imported 3, updated 0, deleted 0, rejected 1\n"
    assert first.stderr == "zendesk: rejected ticket 103: missing text\n"
    assert second.returncode == 0, second.stderr
    assert second.stdout == "zendesk: fetched 1, imported 1, updated 0, deleted 0, rejected 0\n"
    assert rows(db, "zendesk") == expected_zendesk_rows(desk.base) + [
        ("zendesk-109", iso(T0 + 8 * HOUR), "Wrong size delivered.", "returns", "", "web",
         "high", "zendesk", "ticket 109", f"{desk.base}/agent/tickets/109"),
    ]


@pytest.mark.parametrize(("source", "env", "missing"), [
    ("zendesk", {"ZENDESK_SUBDOMAIN": "acme"}, "ZENDESK_EMAIL, ZENDESK_API_TOKEN"),
    ("zendesk", {}, "ZENDESK_SUBDOMAIN, ZENDESK_EMAIL, ZENDESK_API_TOKEN"),
    ("intercom", {}, "INTERCOM_TOKEN"),
])
def test_cli_missing_settings_one_line_and_no_database(
    tmp_path: Path, source: str, env: dict[str, str], missing: str,
) -> None:
    db = tmp_path / "chair.db"
    proc = run_cli(tmp_path, cli_env(db, **env), "sync", source)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"error: {source} sync needs {missing} (missing)\n"
    assert not db.exists()


# ----------------------------------------------------------------------------------- Intercom


def seed_intercom(desk: FakeHelpDesk) -> None:
    for conversation in (
        intercom_conversation("201", "<p>Hi, my <b>order</b> is late.</p><p>Call me on "
                              "+1 415 555 0134.</p>", updated=T0, tags=["delivery", "late"]),
        intercom_conversation("202", "<p>Charged twice for one order.</p>", updated=T0 + HOUR,
                              tags=["billing"]),
        intercom_conversation("203", "", updated=T0 + 2 * HOUR, tags=[]),  # no text
        intercom_conversation("204", "<p>The app logs me out.</p>", updated=T0 + 3 * HOUR,
                              tags=[]),
    ):
        desk.items[conversation["id"]] = conversation


def link(conversation_id: str) -> str:
    return (f"https://app.intercom.com/a/inbox/{INTERCOM_APP_ID}/inbox/conversation/"
            f"{conversation_id}")


EXPECTED_INTERCOM = [
    ("intercom-201", iso(T0 - HOUR), "Hi, my order is late.\n\nCall me on [phone].", "delivery",
     "late", "conversation", "not_priority", "intercom", "conversation 201", link("201")),
    ("intercom-202", iso(T0), "Charged twice for one order.", "billing", "", "conversation",
     "not_priority", "intercom", "conversation 202", link("202")),
    ("intercom-204", iso(T0 + 2 * HOUR), "The app logs me out.", "general", "", "conversation",
     "not_priority", "intercom", "conversation 204", link("204")),
]


def searches(desk: FakeHelpDesk) -> list[Any]:
    return [r.body for r in desk.requests if r.path == "/conversations/search"]


def test_intercom_first_run_stores_exact_rows(store: Store) -> None:
    with intercom_server() as desk:
        seed_intercom(desk)
        summary = sync_intercom(store, intercom_settings(desk), policy=FAST)

    assert summary.line() == "intercom: fetched 4, imported 3, updated 0, deleted 0, rejected 1"
    assert summary.rejects == [("conversation 203", "missing text")]
    assert rows(store.path, "intercom") == EXPECTED_INTERCOM
    assert [(r.method, r.path) for r in desk.requests] == [
        ("GET", "/me"), ("POST", "/conversations/search"), ("POST", "/conversations/search"),
    ]
    assert {r.headers["intercom-version"] for r in desk.requests} == {"2.11"}
    bodies = searches(desk)
    assert bodies[0] == {"query": {"field": "updated_at", "operator": ">", "value": 0},
                         "pagination": {"per_page": 150}}
    assert bodies[1]["pagination"]["starting_after"]
    state = load_state(store, "intercom")
    assert (state.cursor, state.high_water) == ("", T0 + 3 * HOUR)


def test_intercom_resume_fetches_only_what_changed_since(store: Store) -> None:
    with intercom_server() as desk:
        seed_intercom(desk)
        settings = intercom_settings(desk)
        sync_intercom(store, settings, policy=FAST)
        desk.requests.clear()
        desk.items["205"] = intercom_conversation("205", "<p>Parcel left in the rain.</p>",
                                                  updated=T0 + 5 * HOUR, tags=["delivery"])
        summary = sync_intercom(store, settings, policy=FAST)

    floor = T0 + 3 * HOUR - OVERLAP_SECONDS
    assert searches(desk)[0]["query"]["value"] == floor
    # The newest conversation of the first run is within the overlap: read again, unchanged.
    assert summary.line() == "intercom: fetched 2, imported 1, updated 0, deleted 0, rejected 0"
    assert [r[0] for r in rows(store.path, "intercom")] == [
        "intercom-201", "intercom-202", "intercom-204", "intercom-205",
    ]


def test_intercom_update_rewrites_the_row(store: Store) -> None:
    with intercom_server() as desk:
        seed_intercom(desk)
        settings = intercom_settings(desk)
        sync_intercom(store, settings, policy=FAST)
        desk.items["202"] = intercom_conversation(
            "202", "<p>Charged twice, and now a third time.</p>", updated=T0 + 6 * HOUR,
            created=T0, tags=["billing", "duplicate"])
        summary = sync_intercom(store, settings, policy=FAST)

    assert summary.line() == "intercom: fetched 2, imported 0, updated 1, deleted 0, rejected 0"
    got = {r[0]: r for r in rows(store.path, "intercom")}
    assert got["intercom-202"][2:5] == (
        "Charged twice, and now a third time.", "billing", "duplicate"
    )
    assert count(store.path) == 3


def test_intercom_rate_limit_then_success(store: Store) -> None:
    with intercom_server() as desk:
        seed_intercom(desk)
        desk.fault = failing(1, 429, {"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0",
                                      "X-RateLimit-Reset": reset_in(0)},
                             when=lambda s: s.path == "/conversations/search")
        summary = sync_intercom(store, intercom_settings(desk), policy=FAST)

    assert summary.line() == "intercom: fetched 4, imported 3, updated 0, deleted 0, rejected 1"
    assert len(searches(desk)) == 3
    assert rows(store.path, "intercom") == EXPECTED_INTERCOM


def test_intercom_server_error_mid_run_loses_and_doubles_nothing(store: Store) -> None:
    with intercom_server() as desk:
        seed_intercom(desk)
        settings = intercom_settings(desk)
        desk.fault = failing(
            FAST.attempts, 500,
            when=lambda s: bool((s.body or {}).get("pagination", {}).get("starting_after")))
        with pytest.raises(SyncError, match=r"^intercom: HTTP 500 from .* gave up after 3"):
            sync_intercom(store, settings, policy=FAST)

        assert [r[0] for r in rows(store.path, "intercom")] == ["intercom-201", "intercom-202"]
        state = load_state(store, "intercom")
        assert state.cursor and state.run_floor == 0
        desk.requests.clear()
        summary = sync_intercom(store, settings, policy=FAST)

    resumed = searches(desk)[0]
    assert resumed["query"]["value"] == 0
    assert resumed["pagination"]["starting_after"] == state.cursor
    assert summary.line() == "intercom: fetched 2, imported 1, updated 0, deleted 0, rejected 1"
    assert rows(store.path, "intercom") == EXPECTED_INTERCOM
    assert load_state(store, "intercom").cursor == ""


def test_intercom_401_is_one_clear_error(store: Store) -> None:
    with intercom_server() as desk:
        settings = load_settings(intercom_base_url=desk.base, intercom_token="wrong")
        with pytest.raises(SyncError) as info:
            sync_intercom(store, settings, policy=FAST)
    assert str(info.value) == "intercom: 401 Unauthorized: check INTERCOM_TOKEN"


# ---------------------------------------------------------------------------------- schedule


def test_serve_schedules_each_configured_sync(store: Store) -> None:
    from bot.scheduler import BriefScheduler

    with zendesk_server() as desk:
        seed_zendesk(desk)
        settings = zendesk_settings(desk, sync_minutes=15)
        scheduler = BriefScheduler(store, lambda schedule, occurrence: None)
        assert schedule_syncs(scheduler, settings, store) == ["helpdesk-sync-zendesk"]

        job = scheduler.scheduler.get_job("helpdesk-sync-zendesk")
        assert job is not None
        assert scheduler.scheduler.get_job("helpdesk-sync-intercom") is None
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.trigger.interval.total_seconds() == 15 * 60
        job.func()  # what APScheduler would run

    assert [r[0] for r in rows(store.path, "zendesk")] == [
        "zendesk-101", "zendesk-102", "zendesk-104"
    ]


def test_sync_off_by_default_schedules_nothing(store: Store) -> None:
    from bot.scheduler import BriefScheduler

    settings = load_settings(zendesk_subdomain="acme", zendesk_email=ZENDESK_EMAIL,
                             zendesk_api_token=ZENDESK_TOKEN)
    scheduler = BriefScheduler(store, lambda schedule, occurrence: None)
    assert schedule_syncs(scheduler, settings, store) == []
    assert scheduler.scheduler.get_jobs() == []
