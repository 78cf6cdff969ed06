"""Schedules and calendars through Slack: who may remove them, how often, which feeds, how many."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.stack import SandboxStack
from tests.calendar_servers import FeedServer, Route, feed_server, ics_route

CHANNEL = "C0MEET"
COULD_NOT = "I could not use that calendar"


def start_stack(tmp_path: Path, **overrides: Any) -> SandboxStack:
    stack = SandboxStack(tmp_path / "bot.db", settings_overrides=overrides).start()
    stack.emulator.add_user("U0ADMIN", "ada", real_name="Ada Admin", is_admin=True)
    stack.emulator.add_user("U0OWNER", "otto", real_name="Otto Owner", is_owner=True)
    return stack


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with feed_server({"/team.ics": ics_route(), "/missing.ics": Route(404)}) as server:
        yield server


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path, EMPTYCHAIR_ADMIN_USERS="U0CAROL")
    yield s
    s.stop()


@pytest.fixture
def allowed_stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path, EMPTYCHAIR_CALENDAR_ALLOW_HOSTS="127.0.0.1")
    yield s
    s.stop()


_keys = iter(range(10**6))


def command(stack: SandboxStack, text: str, user: str = "U0ALICE") -> str:
    """Send `/emptychair text` as `user`; the ephemeral reply's text."""
    key = f"k{next(_keys)}"
    url = stack.emulator.response_url_for(key)
    stack.driver.slash_command(text, channel=CHANNEL, user=user, response_url=url)
    deadline = time.time() + 30
    while time.time() < deadline:
        posts = stack.emulator.response_posts(key)
        if posts:
            assert posts[-1].get("response_type") == "ephemeral"
            return str(posts[-1]["text"])
        time.sleep(0.05)
    raise AssertionError(f"no ephemeral answer to {text!r}")


def schedule_ids(stack: SandboxStack) -> list[int]:
    rows = stack.components.store.conn.execute("SELECT id FROM schedules ORDER BY id")
    return [int(r[0]) for r in rows]


# --- who may remove ---------------------------------------------------------------------------


def test_only_the_creator_admins_owners_and_bot_admins_remove_a_schedule(
    stack: SandboxStack,
) -> None:
    for _ in range(4):
        assert command(stack, "schedule weekdays 09:45").startswith("Scheduled brief #")
    assert schedule_ids(stack) == [1, 2, 3, 4]

    refused = command(stack, "unschedule 1", user="U0BOB")
    assert refused.startswith("Only the person who set it up (<@U0ALICE>), workspace admins")
    assert "Nothing was changed" in refused
    assert schedule_ids(stack) == [1, 2, 3, 4]
    # users.info was asked whether Bob is an admin, and he is not.
    assert any(c.params.get("user") == "U0BOB" for c in stack.emulator.calls_to("users.info"))

    assert command(stack, "unschedule 1") == "Removed scheduled brief #1."  # the creator
    assert command(stack, "unschedule 2", user="U0ADMIN") == "Removed scheduled brief #2."
    assert command(stack, "unschedule 3", user="U0OWNER") == "Removed scheduled brief #3."
    # U0CAROL is in EMPTYCHAIR_ADMIN_USERS.
    assert command(stack, "unschedule 4", user="U0CAROL") == "Removed scheduled brief #4."
    assert schedule_ids(stack) == []
    assert command(stack, "unschedule 4", user="U0BOB") == (
        "There is no scheduled brief #4 in this channel.")


def test_a_calendar_is_protected_like_a_schedule(
    allowed_stack: SandboxStack, feeds: FeedServer
) -> None:
    reply = command(allowed_stack, f"calendar <{feeds.base}/team.ics> 10")
    assert reply.startswith("Brief #1 will be posted 10 minutes before each event")
    assert command(allowed_stack, "unschedule 1", user="U0BOB").startswith("Only the person")
    assert schedule_ids(allowed_stack) == [1]
    assert command(allowed_stack, "unschedule 1", user="U0ADMIN") == (
        "Removed scheduled brief #1.")


@pytest.mark.parametrize("spec", ['cron "* * * * *"', 'cron "*/5 * * * *"',
                                  'cron "0,30 9 * * 1-5"'])
def test_schedules_more_often_than_hourly_are_refused(stack: SandboxStack, spec: str) -> None:
    reply = command(stack, f"schedule {spec}")
    assert reply.startswith("Briefs can be scheduled at most once an hour")
    assert schedule_ids(stack) == []
    assert command(stack, 'schedule cron "0 * * * *"').startswith("Scheduled brief #1")


# --- which calendars --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1",
                                  "017700000001", "[::1]", "[::ffff:127.0.0.1]"])
def test_an_internal_calendar_is_refused_without_a_word_on_why(
    stack: SandboxStack, feeds: FeedServer, host: str
) -> None:
    reply = command(stack, f"calendar http://{host}:{feeds.port}/team.ics")
    assert reply.startswith(COULD_NOT)
    assert feeds.hits == [] and schedule_ids(stack) == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://10.0.0.1/team.ics", "http://[fd00::1]/team.ics",
                                 "http://0.0.0.0:8080/team.ics"])
def test_metadata_and_private_addresses_are_refused(stack: SandboxStack, url: str) -> None:
    assert command(stack, f"calendar {url}").startswith(COULD_NOT)
    assert schedule_ids(stack) == []


def test_every_failure_reads_the_same(allowed_stack: SandboxStack, feeds: FeedServer) -> None:
    internal = command(allowed_stack, f"calendar http://127.0.0.2:{feeds.port}/team.ics")
    missing = command(allowed_stack, f"calendar {feeds.base}/missing.ics")
    creds = command(allowed_stack, f"calendar http://me:pw@127.0.0.1:{feeds.port}/team.ics")
    assert internal == missing == creds and internal.startswith(COULD_NOT)
    assert feeds.hits == ["/missing.ics"] and schedule_ids(allowed_stack) == []


def test_at_most_three_calendars_per_channel(
    allowed_stack: SandboxStack, feeds: FeedServer
) -> None:
    for i in range(3):
        reply = command(allowed_stack, f"calendar {feeds.base}/team.ics?n={i}")
        assert reply.startswith(f"Brief #{i + 1} will be posted")
    fourth = command(allowed_stack, f"calendar {feeds.base}/team.ics?n=4")
    assert fourth.startswith("This channel already has 3 calendars, the most it can have.")
    assert schedule_ids(allowed_stack) == [1, 2, 3]
    # Cron schedules do not count against it.
    assert command(allowed_stack, "schedule weekdays 09:45").startswith("Scheduled brief #4")
