"""Calendar feeds as an attacker would use them: internal hosts, redirects, drips, huge rules."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.calendar_feed import (
    AllowList,
    CalendarCache,
    CalendarError,
    CalendarFeeds,
    Expander,
    FeedFetcher,
    fetch_ics,
    resolve_checked,
    upcoming_meetings,
)
from bot.models import Schedule
from bot.schedule_spec import parse_schedule
from bot.scheduler import BriefScheduler
from bot.store.db import Store
from bot.store.schedules import ScheduleStore
from tests.calendar_servers import Route, feed_server, ics_route, weekly_ics

LOCAL = "127.0.0.1"


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a numeric host was sent to DNS: {host!r}")


@pytest.fixture
def expander() -> Iterator[Expander]:
    e = Expander(time_box=30.0)
    yield e
    e.close()


# --- addresses --------------------------------------------------------------------------------

INTERNAL_SPELLINGS = [
    "127.0.0.1", "127.0.0.1.", "2130706433", "0x7f.1", "0x7f000001", "017700000001",
    "0177.0.0.1", "127.1", "[::1]", "::1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "169.254.169.254", "[fe80::1]", "10.0.0.1", "012.0.0.1", "172.16.0.1", "192.168.1.1",
    "100.64.0.1", "[fd00::1]", "[fc00::1]", "0.0.0.0", "0", "[::]", "224.0.0.1", "[ff02::1]",
    "240.0.0.1", "255.255.255.255", "[2002:7f00:1::]", "[64:ff9b::a00:1]", "[fec0::1]",
    "192.0.2.1", "198.18.0.1",
]


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_internal_addresses_are_refused_in_every_spelling(host: str) -> None:
    with pytest.raises(CalendarError) as caught:
        resolve_checked(host, 80, AllowList(), resolver=no_dns)
    assert "non-public" in caught.value.reason


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    answers = {
        "localhost": ["127.0.0.1", "::1"],
        "mixed.test": ["93.184.216.34", "10.0.0.1"],  # one public, one internal: internal
        "metadata.test": ["169.254.169.254"],
        "public.test": ["93.184.216.34", "2606:2800:220:1::1"],
    }

    def fake_dns(host: str, port: int) -> list[str]:
        return answers[host]

    for host in ("localhost", "mixed.test", "metadata.test"):
        with pytest.raises(CalendarError):
            resolve_checked(host, 443, AllowList(), resolver=fake_dns)
    assert resolve_checked("public.test", 443, AllowList(), resolver=fake_dns) == "93.184.216.34"
    assert resolve_checked("93.184.216.34", 443, AllowList(), resolver=no_dns) == "93.184.216.34"
    # The allow-list, by address, network or name.
    assert resolve_checked("127.0.0.1", 80, AllowList.parse("127.0.0.1"), no_dns) == "127.0.0.1"
    assert resolve_checked("10.1.2.3", 80, AllowList.parse(" 10.0.0.0/8 ,x"), no_dns) == "10.1.2.3"
    assert resolve_checked("metadata.test", 80, AllowList.parse("Metadata.Test."), fake_dns)


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0x7f.1", "017700000001",
                                      "127.1", "localhost", "[::ffff:127.0.0.1]"])
def test_a_loopback_feed_is_never_contacted_without_the_allow_list(spelling: str) -> None:
    with feed_server({"/team.ics": ics_route()}) as server:
        with pytest.raises(CalendarError) as caught:
            fetch_ics(f"http://{spelling}:{server.port}/team.ics", timeout=5)
        assert server.hits == []
    assert str(caught.value).startswith("I could not use that calendar")


def test_credentials_in_the_url_are_refused() -> None:
    with feed_server({"/team.ics": ics_route()}) as server:
        for url in (f"http://user:secret@{LOCAL}:{server.port}/team.ics",
                    f"http://token@{LOCAL}:{server.port}/team.ics"):
            with pytest.raises(CalendarError) as caught:
                fetch_ics(url, timeout=5, allow_hosts=LOCAL)
            assert caught.value.reason == "credentials in the URL"
        assert server.hits == []


def test_a_redirect_to_a_loopback_host_the_allow_list_does_not_cover_is_not_followed() -> None:
    with feed_server({"/secret.ics": ics_route(summary="Secret")}, host="127.0.0.2") as inner, \
            feed_server({"/team.ics": Route(302, headers={
                "Location": f"{inner.base}/secret.ics"})}) as outer:
        with pytest.raises(CalendarError) as caught:
            fetch_ics(f"{outer.base}/team.ics", timeout=5, allow_hosts=LOCAL)
        assert "non-public" in caught.value.reason
        assert outer.hits == ["/team.ics"] and inner.hits == []


def test_at_most_three_redirects_are_followed() -> None:
    routes = {f"/r{i}": Route(302, headers={"Location": f"/r{i + 1}"}) for i in range(4)}
    routes["/r4"] = ics_route()
    with feed_server(routes) as server:
        assert "Product review" in fetch_ics(f"{server.base}/r1", timeout=5, allow_hosts=LOCAL)
        with pytest.raises(CalendarError) as caught:
            fetch_ics(f"{server.base}/r0", timeout=5, allow_hosts=LOCAL)
        assert caught.value.reason == "more than 3 redirects"


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 (allowed) once, then 127.0.0.2."""
    with feed_server({"/team.ics": ics_route()}) as good:
        try:
            inner_cm = feed_server({"/team.ics": ics_route(summary="Secret")},
                                   host="127.0.0.2", port=good.port)
            inner = inner_cm.__enter__()
        except OSError:
            pytest.skip("port taken on 127.0.0.2")
        try:
            real = socket.getaddrinfo
            lookups: list[str] = []

            def rebinding(host: object, *args: object, **kwargs: object) -> object:
                if host == "cal.test":
                    lookups.append(host)
                    host = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
                return real(host, *args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(socket, "getaddrinfo", rebinding)
            text = fetch_ics(f"http://cal.test:{good.port}/team.ics", timeout=5,
                             allow_hosts=LOCAL)
        finally:
            inner_cm.__exit__(None, None, None)
        assert "Product review" in text and "Secret" not in text
        assert lookups == ["cal.test"] and inner.hits == []
        assert good.host_headers == [f"cal.test:{good.port}"]  # the name, not the pinned IP


@pytest.mark.parametrize("drip_headers", [False, True])
def test_a_feed_that_drips_is_cut_off_at_the_deadline(drip_headers: bool) -> None:
    route = ics_route()
    route.drip, route.drip_headers = 0.1, drip_headers
    with feed_server({"/slow.ics": route}) as server, pytest.raises(CalendarError) as caught:
        fetch_ics(f"{server.base}/slow.ics", timeout=1.0, allow_hosts=LOCAL)
    assert "deadline" in caught.value.reason


@pytest.mark.parametrize("length", [True, False])
def test_a_feed_over_the_size_cap_is_refused(length: bool) -> None:
    big = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"a" * 300_000 + b"\r\nEND:VCALENDAR\r\n"
    with feed_server({"/big.ics": Route(200, big, length=length)}) as server:
        fetch = FeedFetcher(AllowList.parse(LOCAL), max_bytes=100_000)
        with pytest.raises(CalendarError) as caught:
            fetch(f"{server.base}/big.ics", 5.0)
    assert "larger than" in caught.value.reason


# --- expansion limits -------------------------------------------------------------------------

NOW = datetime(2026, 10, 7, 7, 0, tzinfo=UTC)


def _calendar(*rules: tuple[str, datetime]) -> str:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}@example.test\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start.strftime('%Y%m%dT%H%M%SZ')}\r\nDURATION:PT30M\r\nRRULE:{rule}\r\n"
        f"SUMMARY:event {i}\r\nEND:VEVENT\r\n"
        for i, (rule, start) in enumerate(rules)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{events}END:VCALENDAR\r\n"


def test_an_event_repeating_every_second_is_skipped_not_expanded() -> None:
    text = _calendar(("FREQ=SECONDLY", NOW - timedelta(days=1)),
                     ("FREQ=MINUTELY;INTERVAL=2", NOW - timedelta(days=1)),
                     ("FREQ=WEEKLY", NOW + timedelta(hours=2)))
    meetings = upcoming_meetings(text, NOW - timedelta(days=7), NOW + timedelta(days=1))
    assert meetings == [(NOW + timedelta(hours=2), "event 2")]


def test_occurrences_per_feed_are_capped() -> None:
    text = _calendar(("FREQ=HOURLY", NOW - timedelta(days=30)))
    meetings = upcoming_meetings(text, NOW, NOW + timedelta(days=14))
    assert len(meetings) == 200 and meetings[0][0] == NOW  # the earliest are the ones kept


def test_an_expansion_that_never_ends_is_stopped_by_the_time_box() -> None:
    # dateutil walks every hour to the year 9999 looking for a 30 February.
    text = _calendar(("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30", NOW - timedelta(days=1)))
    expander = Expander(time_box=0.5)
    try:
        with pytest.raises(CalendarError) as caught:
            expander.meetings(text, NOW, NOW + timedelta(days=1), "UTC")
        assert "longer than" in caught.value.reason
        # The stuck worker was killed; the next calendar gets a fresh one and its answer.
        good = _calendar(("FREQ=DAILY", NOW + timedelta(hours=1)))
        expander.time_box = 30.0
        assert expander.meetings(good, NOW, NOW + timedelta(days=1), "UTC") == [
            (NOW + timedelta(hours=1), "event 0")]
    finally:
        expander.close()


def test_meetings_beyond_the_horizon_are_not_expanded(expander: Expander) -> None:
    text = _calendar(("FREQ=DAILY", NOW + timedelta(hours=1)))

    def fetch(url: str, timeout: float) -> str:
        return text

    feeds = CalendarFeeds(CalendarCache(fetch), expander=expander, horizon=timedelta(days=3))
    try:
        found = feeds.meetings("https://cal.example/a.ics", NOW, NOW, NOW + timedelta(days=30),
                               "UTC")
    finally:
        feeds.close()
    assert [m for m, _ in found] == [NOW + timedelta(days=d, hours=1) for d in range(3)]


# --- the scheduler: one bad feed delays nobody else -------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_slow_or_bad_feed_gives_up_and_the_others_still_post(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    meeting = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    slow = ics_route(meeting, "Slow meeting")
    slow.drip = 0.1
    not_ics = Route(200, b"<html>SECRET-BODY-4711 internal admin page</html>",
                    {"Content-Type": "text/html"})
    dense = Route(200, _calendar(("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
                                  meeting - timedelta(days=1))).encode())
    routes = {"/good.ics": ics_route(meeting), "/slow.ics": slow, "/page.ics": not_ics,
              "/dense.ics": dense}
    store = Store(tmp_path / "s.db")
    try:
        with feed_server(routes) as server:
            schedules = ScheduleStore(store)
            created = meeting - timedelta(days=1)
            ids = {
                name: schedules.add(Schedule(
                    channel_id=f"C0{name.upper()}", kind="calendar", minutes_before=15,
                    calendar_url=f"{server.base}/{name}.ics", created_at=created)).id
                for name in ("slow", "page", "dense", "good")
            }
            occurrence = meeting - timedelta(minutes=15)
            cron, tz = parse_schedule(
                f'cron "{occurrence.minute} {occurrence.hour} * * *" UTC', "UTC")
            cron_id = schedules.add(Schedule(channel_id="C0CRON", cron=cron, timezone=tz,
                                             created_at=created)).id
            clock = Clock(occurrence + timedelta(minutes=1))
            posted: list[int] = []

            def post(schedule: Schedule, at: datetime) -> None:
                assert schedule.id is not None
                posted.append(schedule.id)

            cache = CalendarCache(FeedFetcher(AllowList.parse(LOCAL)), clock=clock, timeout=1.0)
            feeds = CalendarFeeds(cache, expander=Expander(time_box=1.0))
            scheduler = BriefScheduler(store, post, clock=clock, calendars=feeds,
                                       calendar_wait=20.0)
            try:
                scheduler.run_due(occurrence + timedelta(minutes=1))
            finally:
                scheduler.shutdown()
    finally:
        store.close()
    assert ids["good"] in posted and cron_id in posted
    assert not {ids["slow"], ids["page"], ids["dense"]} & set(posted)
    assert "SECRET-BODY-4711" not in caplog.text and "internal admin page" not in caplog.text
    assert "I could not use that calendar" in caplog.text  # the warning says no more than that


def test_weekly_ics_helper_is_a_calendar() -> None:
    text = weekly_ics(NOW)
    assert upcoming_meetings(text, NOW, NOW + timedelta(days=8)) == [
        (NOW, "Product review"), (NOW + timedelta(days=7), "Product review")]
