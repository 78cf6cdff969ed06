"""The brief scheduler on a controllable clock: on time, once, across DST, restarts, processes."""

from __future__ import annotations

import http.server
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar_feed import (
    AllowList,
    CalendarCache,
    CalendarError,
    FeedFetcher,
    check_url,
    fetch_ics,
    upcoming_meetings,
)
from bot.errors import ScheduleError
from bot.models import Schedule
from bot.schedule_spec import next_fire, parse_schedule
from bot.scheduler import POLL_JOB_ID, PRUNE_JOB_ID, BriefScheduler
from bot.store.db import Store
from bot.store.schedules import ScheduleStore

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
CHANNEL = "C0TEAM"
# The test feeds listen on loopback, which calendar fetches refuse unless allowed.
LOCAL_FEEDS = FeedFetcher(AllowList.parse("127.0.0.1"))


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Berlin wall-clock time as the UTC instant it is."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Posts:
    """A post_brief that records (schedule id, occurrence, clock time of the post)."""

    def __init__(self, clock: Callable[[], datetime] | None = None,
                 fail: bool = False, ts: str | None = None) -> None:
        self.calls: list[tuple[int, datetime]] = []
        self.posted_at: list[datetime] = []
        self._clock = clock
        self._fail = fail
        self._ts = ts
        self._lock = threading.Lock()

    def __call__(self, schedule: Schedule, occurrence: datetime) -> str | None:
        assert schedule.id is not None
        with self._lock:
            self.calls.append((schedule.id, occurrence))
            if self._clock is not None:
                self.posted_at.append(self._clock())
        if self._fail:
            raise RuntimeError("Slack said no")
        return self._ts


def add_cron(store: Store, spec: str, created_at: datetime, channel: str = CHANNEL) -> Schedule:
    cron, tz = parse_schedule(spec, "UTC")
    return ScheduleStore(store).add(
        Schedule(channel_id=channel, cron=cron, timezone=tz, created_at=created_at)
    )


def walk(
    scheduler: BriefScheduler, clock: Clock, start: datetime, end: datetime,
    step: timedelta = timedelta(minutes=5),
) -> None:
    clock.now = start
    while clock.now <= end:
        scheduler.run_due(clock.now)
        clock.now += step


# --- on time, on the right days, across DST --------------------------------------------------


def test_weekday_schedule_fires_on_weekdays_only_at_local_time_across_dst(store: Store) -> None:
    start = utc(2026, 10, 18, 0, 0)  # Sunday; Berlin falls back on Sunday 25 October
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=start)
    clock = Clock(start)
    posts = Posts(clock)
    scheduler = BriefScheduler(store, posts, clock=clock)

    walk(scheduler, clock, start, start + timedelta(days=14))

    expected = [utc(2026, 10, day, 7, 45) for day in (19, 20, 21, 22, 23)]  # 09:45 CEST
    expected += [utc(2026, 10, day, 8, 45) for day in (26, 27, 28, 29, 30)]  # 09:45 CET
    assert posts.calls == [(schedule.id, occurrence) for occurrence in expected]
    assert all(timedelta(0) <= at - occ < timedelta(minutes=5)
               for (_, occ), at in zip(posts.calls, posts.posted_at, strict=True))
    assert [r.occurrence for r in ScheduleStore(store).runs(schedule.id)] == expected


def test_daily_schedule_on_the_day_of_the_dst_change(store: Store) -> None:
    start = utc(2026, 10, 23, 12, 0)
    schedule = add_cron(store, "daily 09:45 Europe/Berlin", created_at=start)
    clock = Clock(start)
    posts = Posts()
    walk(BriefScheduler(store, posts, clock=clock), clock, start, utc(2026, 10, 26, 12, 0))
    assert posts.calls == [
        (schedule.id, utc(2026, 10, 24, 7, 45)),
        (schedule.id, utc(2026, 10, 25, 8, 45)),  # the Sunday of the change, already CET
        (schedule.id, utc(2026, 10, 26, 8, 45)),
    ]


def test_two_schedules_at_the_same_time_each_post(store: Store) -> None:
    start = utc(2026, 10, 19, 0, 0)
    first = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=start)
    second = add_cron(store, "mon 07:45 UTC", created_at=start, channel="C0OTHER")
    posts = Posts()
    fired = BriefScheduler(store, posts, clock=Clock(start)).run_due(utc(2026, 10, 19, 7, 46))
    assert sorted(fired) == [(first.id, utc(2026, 10, 19, 7, 45)),
                             (second.id, utc(2026, 10, 19, 7, 45))]
    assert len(posts.calls) == 2


def test_an_occurrence_before_the_schedule_existed_is_not_posted(store: Store) -> None:
    # Created at 09:50 on a weekday: the 09:45 brief of that day is not owed, even within grace.
    created = berlin(2026, 10, 20, 9, 50)
    add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=created)
    posts = Posts()
    scheduler = BriefScheduler(store, posts, clock=Clock(created))
    assert scheduler.run_due(berlin(2026, 10, 20, 10, 0)) == []
    assert len(scheduler.run_due(berlin(2026, 10, 21, 9, 46))) == 1


# --- at most once: restarts, threads, processes ----------------------------------------------


def test_restart_between_schedule_and_fire_time_posts_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    created = berlin(2026, 10, 20, 8, 0)
    clock = Clock(berlin(2026, 10, 20, 9, 0))
    posts = Posts()

    first_store = Store(path)
    schedule = add_cron(first_store, "weekdays 09:45 Europe/Berlin", created_at=created)
    first = BriefScheduler(first_store, posts, clock=clock, instance_id="before-restart")
    first.start()
    assert posts.calls == []  # nothing due at 09:00
    first.shutdown()
    first_store.close()

    clock.now = berlin(2026, 10, 20, 9, 46)  # the bot comes back a minute after the brief time
    second_store = Store(path)
    second = BriefScheduler(second_store, posts, clock=clock, instance_id="after-restart")
    second.start()
    try:
        assert posts.calls == [(schedule.id, berlin(2026, 10, 20, 9, 45))]
        assert second.run_due(berlin(2026, 10, 20, 9, 50)) == []
    finally:
        second.shutdown()
        second_store.close()

    clock.now = berlin(2026, 10, 20, 10, 0)  # and restarts again, still within the grace period
    third_store = Store(path)
    third = BriefScheduler(third_store, posts, clock=clock, instance_id="second-restart")
    third.start()
    try:
        assert len(posts.calls) == 1
        runs = ScheduleStore(third_store).runs(schedule.id)
        assert [(r.occurrence, r.claimed_by) for r in runs] == [
            (berlin(2026, 10, 20, 9, 45), "after-restart")
        ]
    finally:
        third.shutdown()
        third_store.close()


def test_two_instances_on_one_database_post_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    stores = [Store(path), Store(path)]
    try:
        created = berlin(2026, 10, 20, 8, 0)
        schedule = add_cron(stores[0], "weekdays 09:45 Europe/Berlin", created_at=created)
        posts = Posts()
        now = berlin(2026, 10, 20, 9, 45)
        instances = [
            BriefScheduler(s, posts, clock=Clock(now), instance_id=f"proc-{i}")
            for i, s in enumerate(stores)
        ]
        barrier = threading.Barrier(8)
        results: list[list[tuple[int, datetime]]] = []
        results_lock = threading.Lock()

        def run(instance: BriefScheduler) -> None:
            barrier.wait()
            fired = instance.run_due(now)
            with results_lock:
                results.append(fired)

        threads = [threading.Thread(target=run, args=(instances[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert posts.calls == [(schedule.id, now)]
        assert sorted(len(r) for r in results) == [0] * 7 + [1]
    finally:
        for s in stores:
            s.close()


WORKER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime
    sys.path.insert(0, sys.argv[1])
    from bot.scheduler import BriefScheduler
    from bot.store.db import Store

    db, out, ready, go, now_iso = sys.argv[2:]
    now = datetime.fromisoformat(now_iso)

    def post(schedule, occurrence):
        with open(out, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {schedule.id} {occurrence.isoformat()}\\n")

    scheduler = BriefScheduler(Store(db), post, clock=lambda: now,
                               instance_id=f"pid-{os.getpid()}")
    open(ready, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit(2)
        time.sleep(0.002)
    scheduler.run_due(now)
    """
)


def test_separate_processes_on_one_database_post_once(tmp_path: Path, store: Store) -> None:
    created = berlin(2026, 10, 20, 8, 0)
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=created)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    out, go = tmp_path / "posts.txt", tmp_path / "go"
    now = berlin(2026, 10, 20, 9, 46)
    procs = []
    for i in range(4):
        ready = tmp_path / f"ready-{i}"
        procs.append((ready, subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(store.path), str(out), str(ready),
             str(go), now.isoformat()],
        )))
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _ in procs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for _, p in procs), "a worker died while starting"
        time.sleep(0.01)
    go.touch()  # all four race for the same occurrence at once
    assert [p.wait(timeout=60) for _, p in procs] == [0, 0, 0, 0]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert lines[0].split()[1:] == [str(schedule.id), berlin(2026, 10, 20, 9, 45).isoformat()]


# --- missed occurrences, failures, removal ---------------------------------------------------


def test_missed_occurrence_within_grace_is_posted_on_start(store: Store) -> None:
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=utc(2026, 10, 1, 0, 0))
    posts = Posts()
    scheduler = BriefScheduler(store, posts, clock=Clock(berlin(2026, 10, 22, 10, 10)),
                               misfire_grace=timedelta(minutes=30))
    scheduler.start()
    try:
        assert posts.calls == [(schedule.id, berlin(2026, 10, 22, 9, 45))]
    finally:
        scheduler.shutdown()


def test_missed_occurrence_outside_grace_is_skipped_and_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=utc(2026, 10, 22, 5, 0))
    clock = Clock(berlin(2026, 10, 22, 10, 30))  # 45 minutes late, grace is 30
    posts = Posts()
    scheduler = BriefScheduler(store, posts, clock=clock, misfire_grace=timedelta(minutes=30))
    scheduler.start()
    try:
        assert posts.calls == []
        skipped = [r for r in caplog.records
                   if r.name == "bot.scheduler" and r.levelno == logging.INFO
                   and "skipped" in r.getMessage()]
        assert [r.getMessage() for r in skipped] == [
            f"schedule {schedule.id}: skipped the brief for occurrence 2026-10-22T07:45:00Z: "
            "missed by 0:45:00, more than the 0:30:00 grace period"
        ]
        caplog.clear()
        assert scheduler.run_due(berlin(2026, 10, 22, 10, 35)) == []
        assert not [r for r in caplog.records if "skipped" in r.getMessage()]  # logged once
        # The next occurrence is posted as usual.
        assert scheduler.run_due(berlin(2026, 10, 23, 9, 45)) == [
            (schedule.id, berlin(2026, 10, 23, 9, 45))
        ]
    finally:
        scheduler.shutdown()


def test_several_missed_occurrences_coalesce_into_the_latest(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    start = utc(2026, 10, 20, 9, 0)
    schedule = ScheduleStore(store).add(
        Schedule(channel_id=CHANNEL, cron="*/10 * * * *", timezone="UTC", created_at=start)
    )
    posts = Posts()
    fired = BriefScheduler(store, posts, clock=Clock(start)).run_due(utc(2026, 10, 20, 9, 35))
    assert fired == [(schedule.id, utc(2026, 10, 20, 9, 30))]
    coalesced = [r.getMessage() for r in caplog.records if "coalesced" in r.getMessage()]
    assert coalesced == [  # 09:00 itself is the creation time: not owed
        f"schedule {schedule.id}: skipped the brief for occurrence 2026-10-20T{t}:00Z: "
        "coalesced into the later occurrence 2026-10-20T09:30:00Z"
        for t in ("09:10", "09:20")
    ]


def test_failed_post_keeps_the_claim_and_is_not_retried(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=utc(2026, 10, 1, 0, 0))
    failing = Posts(fail=True)
    occurrence = berlin(2026, 10, 22, 9, 45)
    scheduler = BriefScheduler(store, failing, clock=Clock(occurrence))
    assert scheduler.run_due(berlin(2026, 10, 22, 9, 46)) == [(schedule.id, occurrence)]
    assert any(r.levelno == logging.ERROR and "not retrying" in r.getMessage()
               for r in caplog.records)
    assert scheduler.run_due(berlin(2026, 10, 22, 9, 50)) == []
    assert schedule.id is not None
    assert scheduler.fire(schedule.id, occurrence) is False
    restarted = BriefScheduler(store, failing, clock=Clock(occurrence))
    assert restarted.run_due(berlin(2026, 10, 22, 9, 55)) == []
    assert len(failing.calls) == 1
    [run] = ScheduleStore(store).runs(schedule.id)
    assert run.posted_ts == ""  # claimed, never marked posted


def test_posted_message_ts_is_recorded(store: Store) -> None:
    schedule = add_cron(store, "daily 07:00 UTC", created_at=utc(2026, 10, 1, 0, 0))
    scheduler = BriefScheduler(
        store, Posts(ts="1761000000.000100"), clock=Clock(utc(2026, 10, 2, 7, 0))
    )
    assert schedule.id is not None
    assert scheduler.fire(schedule.id, utc(2026, 10, 2, 7, 0)) is True
    [run] = ScheduleStore(store).runs(schedule.id)
    assert run.posted_ts == "1761000000.000100" and run.claimed_by == scheduler.instance_id


def test_removed_schedule_is_not_posted(store: Store) -> None:
    schedules = ScheduleStore(store)
    schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=utc(2026, 10, 1, 0, 0))
    assert schedule.id is not None
    assert schedules.claim_occurrence(schedule.id, berlin(2026, 10, 21, 9, 45), "earlier")
    assert schedules.remove(schedule.id, "C0SOMEONEELSE") is False  # only within its channel
    assert schedules.get(schedule.id) is not None
    assert schedules.remove(schedule.id, CHANNEL) is True
    assert schedules.remove(schedule.id, CHANNEL) is False
    posts = Posts()
    scheduler = BriefScheduler(store, posts, clock=Clock(utc(2026, 10, 1, 0, 0)))
    assert scheduler.run_due(berlin(2026, 10, 22, 9, 46)) == []
    assert scheduler.fire(schedule.id, berlin(2026, 10, 22, 9, 45)) is False
    assert posts.calls == []
    # A new schedule never reuses the id of a removed one with claims (it would inherit them).
    again = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=utc(2026, 10, 1, 0, 0))
    assert again.id is not None and again.id > schedule.id


def test_store_lists_per_channel_and_claims_once(store: Store) -> None:
    schedules = ScheduleStore(store)
    a = add_cron(store, "weekdays 09:45", created_at=utc(2026, 10, 1, 0, 0))
    b = add_cron(store, "mon 10:00", created_at=utc(2026, 10, 1, 0, 0), channel="C0OTHER")
    assert [s.id for s in schedules.list()] == [a.id, b.id]
    assert schedules.list(CHANNEL) == [a]
    assert schedules.get(b.id or 0) == b
    assert b.created_at == utc(2026, 10, 1, 0, 0)
    occurrence = utc(2026, 10, 5, 9, 45)
    assert schedules.claim_occurrence(a.id or 0, occurrence, "x") is True
    assert schedules.claim_occurrence(a.id or 0, occurrence.astimezone(BERLIN), "y") is False
    assert schedules.claim_occurrence(b.id or 0, occurrence, "y") is True  # per schedule
    with pytest.raises(ScheduleError):
        schedules.add(Schedule(channel_id=CHANNEL, kind="calendar"))


# --- the real BackgroundScheduler ------------------------------------------------------------


def test_start_registers_jobs_in_the_schedule_timezone_and_shutdown_stops(store: Store) -> None:
    cron_schedule = add_cron(store, "weekdays 09:45 Europe/Berlin", created_at=datetime.now(UTC))
    calendar_schedule = ScheduleStore(store).add(Schedule(
        channel_id=CHANNEL, kind="calendar", calendar_url="http://127.0.0.1:9/none.ics",
        timezone="Europe/Berlin", created_at=datetime.now(UTC) + timedelta(days=1),
    ))
    before = datetime.now(UTC)
    scheduler = BriefScheduler(store, Posts(), timezone="Europe/Berlin")
    scheduler.start()
    try:
        assert scheduler.scheduler.running
        ids = {job.id for job in scheduler.scheduler.get_jobs()}
        assert ids == {f"brief-{cron_schedule.id}", f"brief-{calendar_schedule.id}", POLL_JOB_ID,
                       PRUNE_JOB_ID}
        job = scheduler.scheduler.get_job(f"brief-{cron_schedule.id}")
        assert job.trigger.timezone == BERLIN
        assert job.coalesce is True and job.misfire_grace_time == 30 * 60
        local = job.next_run_time.astimezone(BERLIN)
        assert (local.hour, local.minute, local.second) == (9, 45, 0) and local.weekday() < 5
        first = next_fire(cron_schedule.cron, cron_schedule.timezone, before)
        assert first is not None
        assert job.next_run_time in (first, next_fire(cron_schedule.cron, "Europe/Berlin", first))

        assert ScheduleStore(store).remove(cron_schedule.id or 0, CHANNEL)
        scheduler.sync()
        assert scheduler.scheduler.get_job(f"brief-{cron_schedule.id}") is None
        assert scheduler.scheduler.get_job(f"brief-{calendar_schedule.id}") is not None
    finally:
        scheduler.shutdown()
    assert not scheduler.scheduler.running
    scheduler.shutdown()  # harmless twice


# --- calendar feeds --------------------------------------------------------------------------

WEEKLY_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Empty Chair tests//EN
BEGIN:VEVENT
UID:product-review@example.test
DTSTAMP:20260901T000000Z
DTSTART;TZID=Europe/Berlin:20261007T100000
DTEND;TZID=Europe/Berlin:20261007T110000
RRULE:FREQ=WEEKLY;BYDAY=WE
SUMMARY:Product review
END:VEVENT
BEGIN:VEVENT
UID:offsite@example.test
DTSTAMP:20260901T000000Z
DTSTART;VALUE=DATE:20261015
DTEND;VALUE=DATE:20261016
SUMMARY:Offsite (all day)
END:VEVENT
BEGIN:VEVENT
UID:cancelled@example.test
DTSTAMP:20260901T000000Z
DTSTART:20261016T120000Z
STATUS:CANCELLED
SUMMARY:Cancelled sync
END:VEVENT
BEGIN:VEVENT
UID:floating@example.test
DTSTAMP:20260901T000000Z
DTSTART:20261016T090000
SUMMARY:Floating standup
END:VEVENT
END:VCALENDAR
"""


class _Feed(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).hits.append(self.path)
        if self.path == "/team.ics":
            body = WEEKLY_ICS.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path in ("/moved.ics", "/to-ftp.ics"):
            self.send_response(302)
            target = "file:///etc/passwd" if self.path == "/moved.ics" else "ftp://127.0.0.1/x"
            self.send_header("Location", target)
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def feed_server() -> Iterator[tuple[str, list[str]]]:
    handler: type[_Feed] = type("Feed", (_Feed,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()


def test_calendar_schedule_posts_minutes_before_each_weekly_meeting(
    store: Store, feed_server: tuple[str, list[str]]
) -> None:
    base, hits = feed_server
    start = utc(2026, 10, 5, 0, 0)
    schedule = ScheduleStore(store).add(Schedule(
        channel_id=CHANNEL, kind="calendar", calendar_url=f"{base}/team.ics", minutes_before=15,
        timezone="Europe/Berlin", created_at=start,
    ))
    clock = Clock(start)
    posts = Posts(clock)
    # A long refresh keeps this walk to a few dozen fetches; the 15-minute rule is tested below.
    calendars = CalendarCache(LOCAL_FEEDS, clock=clock, refresh=timedelta(hours=12))
    scheduler = BriefScheduler(store, posts, clock=clock, calendars=calendars)

    walk(scheduler, clock, start, utc(2026, 10, 29, 0, 0))

    assert posts.calls == [
        (schedule.id, berlin(2026, 10, 7, 9, 45)),
        (schedule.id, berlin(2026, 10, 14, 9, 45)),
        (schedule.id, berlin(2026, 10, 16, 8, 45)),  # the floating 09:00, read in Berlin time
        (schedule.id, berlin(2026, 10, 21, 9, 45)),
        (schedule.id, berlin(2026, 10, 28, 9, 45)),  # after the DST change: 08:45Z
    ]
    assert posts.calls[-1][1] == utc(2026, 10, 28, 8, 45)
    assert all(timedelta(0) <= at - occ < timedelta(minutes=5)
               for (_, occ), at in zip(posts.calls, posts.posted_at, strict=True))
    assert 0 < len(hits) <= 24 * 2 + 2


def test_calendar_text_is_refreshed_at_most_every_fifteen_minutes(
    feed_server: tuple[str, list[str]]
) -> None:
    base, hits = feed_server
    clock = Clock(utc(2026, 10, 7, 7, 0))
    cache = CalendarCache(LOCAL_FEEDS, clock=clock)
    url = f"{base}/team.ics"
    for minutes in (0, 5, 10, 14):
        clock.now = utc(2026, 10, 7, 7, minutes)
        assert "Product review" in cache.get(url)
    assert len(hits) == 1
    clock.now = utc(2026, 10, 7, 7, 15)
    cache.get(url)
    assert len(hits) == 2


def test_calendar_cache_serves_the_last_good_copy_when_a_refresh_fails() -> None:
    answers: list[str | ScheduleError] = ["BEGIN:VCALENDAR\nEND:VCALENDAR\n",
                                          ScheduleError("Cannot fetch the calendar: down")]
    calls: list[str] = []

    def fetch(url: str, timeout: float) -> str:
        calls.append(url)
        answer = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(answer, ScheduleError):
            raise answer
        return answer

    clock = Clock(utc(2026, 10, 7, 7, 0))
    cache = CalendarCache(fetch, clock=clock)
    first = cache.get("https://cal.example/a.ics")
    clock.now += timedelta(minutes=20)
    assert cache.get("https://cal.example/a.ics") == first  # refresh failed, stale copy served
    clock.now += timedelta(seconds=30)
    assert cache.get("https://cal.example/a.ics") == first and len(calls) == 2  # no hammering
    with pytest.raises(ScheduleError, match="down"):
        CalendarCache(fetch, clock=clock).get("https://cal.example/b.ics")


def test_fetch_ics_only_speaks_http(feed_server: tuple[str, list[str]]) -> None:
    base, _ = feed_server
    local = "127.0.0.1"
    assert "Product review" in fetch_ics(f"{base}/team.ics", timeout=5, allow_hosts=local)
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x.ics", "javascript:alert(1)", "team.ics"):
        with pytest.raises(ScheduleError, match="must be an http"):
            fetch_ics(url, timeout=5, allow_hosts=local)
    assert check_url("webcal://cal.example/team.ics") == "https://cal.example/team.ics"
    with pytest.raises(CalendarError) as caught:
        fetch_ics(f"{base}/missing.ics", timeout=5, allow_hosts=local)
    assert caught.value.reason == "HTTP 404"
    assert "404" not in str(caught.value)  # the user is not told what failed
    for path in ("moved.ics", "to-ftp.ics"):  # urllib itself would follow a redirect to ftp://
        with pytest.raises(CalendarError) as caught:
            fetch_ics(f"{base}/{path}", timeout=5, allow_hosts=local)
        assert "refusing to follow a redirect" in caught.value.reason


def test_upcoming_meetings_expand_recurrences_and_skip_all_day_and_cancelled() -> None:
    meetings = upcoming_meetings(
        WEEKLY_ICS, utc(2026, 10, 13, 0, 0), utc(2026, 10, 22, 0, 0), default_tz="Europe/Berlin"
    )
    assert [(m.astimezone(UTC), title) for m, title in meetings] == [
        (utc(2026, 10, 14, 8, 0), "Product review"),
        (utc(2026, 10, 16, 7, 0), "Floating standup"),
        (utc(2026, 10, 21, 8, 0), "Product review"),
    ]
    with pytest.raises(CalendarError) as caught:
        upcoming_meetings("this is not a calendar", utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0))
    assert "not valid iCalendar" in caught.value.reason
    assert "this is not a calendar" not in caught.value.reason  # a body never reaches a log



def test_an_invalid_row_is_skipped_and_reported_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    good = add_cron(store, "daily 07:00 UTC", created_at=utc(2026, 10, 1, 0, 0))
    # Written around the parser (an old row, a hand edit): the bot must keep running the others.
    store.conn.execute(
        "INSERT INTO schedules (id, channel_id, kind, cron, timezone, created_at) "
        "VALUES (99, 'C0BAD', 'cron', '99 99 * * *', 'UTC', '2026-10-01T00:00:00Z')"
    )
    store.conn.commit()
    scheduler = BriefScheduler(store, Posts(), clock=Clock(utc(2026, 10, 2, 7, 0)))
    scheduler.sync()
    scheduler.sync()
    assert scheduler.scheduler.get_job("brief-99") is None
    assert scheduler.scheduler.get_job(f"brief-{good.id}") is not None
    assert scheduler.run_due(utc(2026, 10, 2, 7, 1)) == [(good.id, utc(2026, 10, 2, 7, 0))]
    scheduler.run_due(utc(2026, 10, 2, 7, 2))
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and "schedule 99" in r.getMessage()]
    assert len(warnings) == 2  # once from sync, once from run_due: not once per minute


def test_the_hourly_prune_job_forgets_old_event_ids_and_keeps_recent_ones(store: Store) -> None:
    now = datetime.now(UTC)
    with store.conn as conn:
        conn.executemany("INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)", [
            ("Ev-old", (now - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("Ev-new", (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ])
    scheduler = BriefScheduler(store, Posts())
    removed = scheduler.prune()
    assert removed["seen_events"] == 1
    assert [r[0] for r in store.conn.execute("SELECT event_id FROM seen_events")] == ["Ev-new"]
