"""Schedule specs: accepted forms, exact error messages, descriptions and DST-safe fire times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ScheduleError
from bot.schedule_spec import (
    cron_trigger,
    describe,
    next_runs,
    normalize_cron,
    occurrences_between,
    parse_schedule,
    resolve_timezone,
)

BERLIN = ZoneInfo("Europe/Berlin")
CRON_EX = 'Example: cron "45 9 * * 1-5" Europe/Berlin'
EXAMPLES = 'Examples: weekdays 09:45 · mon,wed,fri 16:00 Europe/Berlin · cron "45 9 * * 1-5"'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("weekdays 09:45", ("45 9 * * mon-fri", "Europe/Paris")),
        ("daily 9:45", ("45 9 * * *", "Europe/Paris")),
        ("mon 09:45 Europe/Berlin", ("45 9 * * mon", "Europe/Berlin")),
        ("mon,wed,fri 16:00", ("0 16 * * mon,wed,fri", "Europe/Paris")),
        ("tue-thu 8:30am", ("30 8 * * tue-thu", "Europe/Paris")),
        ("tue-thu 8:30pm", ("30 20 * * tue-thu", "Europe/Paris")),
        ("every weekday at 9:45 am", ("45 9 * * mon-fri", "Europe/Paris")),
        ("Mon, Wed 12am", ("0 0 * * mon,wed", "Europe/Paris")),
        ("weekends 10:00 utc", ("0 10 * * sat,sun", "UTC")),
        ("fri-mon 12pm", ("0 12 * * mon,fri-sun", "Europe/Paris")),
        ("weekdays 09:45 america/new_york", ("45 9 * * mon-fri", "America/New_York")),
        ('cron "45 9 * * 1-5"', ("45 9 * * mon-fri", "Europe/Paris")),
        ('cron "45 9 * * 1-5" Europe/Berlin', ("45 9 * * mon-fri", "Europe/Berlin")),
        ("cron \u201c45 9 * * 1-5\u201d Asia/Tokyo", ("45 9 * * mon-fri", "Asia/Tokyo")),
        ("CRON '0 9 * * 0'", ("0 9 * * sun", "Europe/Paris")),
        ("cron 0 9 * * 7 UTC", ("0 9 * * sun", "UTC")),
        ('cron "15 9-17 * * */2"', ("15 9-17 * * tue,thu,sat,sun", "Europe/Paris")),
        ('cron "59 9,10 * * *"', ("59 9,10 * * *", "Europe/Paris")),  # an hour apart: allowed
        ('cron "0 * * * *"', ("0 * * * *", "Europe/Paris")),
        ('cron "0 9 1 * *"', ("0 9 1 * *", "Europe/Paris")),
    ],
)
def test_accepted_forms(args: str, expected: tuple[str, str]) -> None:
    assert parse_schedule(args, "Europe/Paris") == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", f"Tell me when to post the brief. {EXAMPLES}"),
        ("weekdays", f"Add a time of day, like weekdays 09:45. {EXAMPLES}"),
        (
            "weekdays 25:00",
            '"25:00" is not a time of day: use 24-hour HH:MM (00:00–23:59) or 12-hour like '
            "8:30am. Example: weekdays 09:45",
        ),
        (
            "mon 9",
            '"9" is not a time of day: use 24-hour HH:MM (00:00–23:59) or 12-hour like 8:30am. '
            "Example: weekdays 09:45",
        ),
        (
            "funday 09:45",
            '"funday" is not a day: use daily, weekdays, weekends, a day like mon, a list like '
            "mon,wed,fri or a range like tue-thu. Example: mon,wed,fri 16:00",
        ),
        (
            "mon,xyz 09:45",
            '"xyz" is not a day: use daily, weekdays, weekends, a day like mon, a list like '
            "mon,wed,fri or a range like tue-thu. Example: mon,wed,fri 16:00",
        ),
        (
            "weekdays 09:45 Mars/Olympus",
            '"Mars/Olympus" is not a timezone I know: use an IANA name like Europe/Berlin, '
            "America/New_York or UTC. Example: weekdays 09:45 Europe/Berlin",
        ),
        ("weekdays 09:45 Europe/Berlin please", f'I did not understand "Europe/Berlin please". '
                                                f"{EXAMPLES}"),
        (
            'cron "45 9 * *"',
            "A cron expression needs 5 fields (minute hour day-of-month month day-of-week), "
            f'got 4 in "45 9 * *". {CRON_EX}',
        ),
        (
            'cron "0 45 9 * * 1-5"',
            "A cron expression needs 5 fields (minute hour day-of-month month day-of-week), "
            f'got 6 in "0 45 9 * * 1-5". {CRON_EX}',
        ),
        (
            'cron "61 9 * * *"',
            'Invalid cron expression "61 9 * * *": the minute field "61" is not valid '
            f"(allowed: 0–59, *, lists, ranges and steps like */15). {CRON_EX}",
        ),
        (
            'cron "45 24 * * *"',
            'Invalid cron expression "45 24 * * *": the hour field "24" is not valid '
            f"(allowed: 0–23, *, lists, ranges and steps like */15). {CRON_EX}",
        ),
        (
            'cron "45 9 * 13 *"',
            'Invalid cron expression "45 9 * 13 *": the month field "13" is not valid '
            f"(allowed: 1–12 or jan–dec, *, lists, ranges and steps like */15). {CRON_EX}",
        ),
        (
            'cron "45 9 * * 8"',
            'Invalid cron expression "45 9 * * 8": the day-of-week field "8" is not valid '
            f"(allowed: 0–7 or sun–sat, lists, ranges and steps). {CRON_EX}",
        ),
        (
            'cron "45 9 * * 5-1"',
            'Invalid cron expression "45 9 * * 5-1": the day-of-week field "5-1" is not valid '
            f"(allowed: 0–7 or sun–sat, lists, ranges and steps). {CRON_EX}",
        ),
        (
            'cron "45 9 1 * 1"',
            'Invalid cron expression "45 9 1 * 1": set the day of month or the day of week, '
            f"not both. {CRON_EX}",
        ),
        ('cron "0 0 31 2 *"', f'Invalid cron expression "0 0 31 2 *": it never fires. {CRON_EX}'),
        ('cron "45 9 * * 1-5', f"Close the quotes around the cron expression. {CRON_EX}"),
        (
            'cron "45 9 * * 1-5" Nowhere/Land',
            '"Nowhere/Land" is not a timezone I know: use an IANA name like Europe/Berlin, '
            "America/New_York or UTC. Example: weekdays 09:45 Europe/Berlin",
        ),
    ],
)
def test_rejected_forms_say_why_with_an_example(args: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(args, "UTC")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("args", "per_hour"),
    [
        ('cron "* * * * *"', 60),
        ('cron "*/5 * * * *"', 12),
        ('cron "*/15 9-17 * * */2"', 4),
        ('cron "0,30 9 * * 1-5"', 2),
        ('cron "0-1 9 * * *"', 2),
        ('cron "30/20 * * * *"', 2),
    ],
)
def test_schedules_more_often_than_hourly_are_refused(args: str, per_hour: int) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(args, "UTC")
    message = str(caught.value)
    assert message.startswith("Briefs can be scheduled at most once an hour")
    assert f"would post {per_hour} times in an hour" in message and CRON_EX in message


def test_timezone_names_are_checked_against_the_tz_database() -> None:
    assert resolve_timezone("europe/BERLIN") == "Europe/Berlin"
    for bad in ("../../etc/passwd", "Europe", "", "Berlin"):
        with pytest.raises(ScheduleError, match="is not a timezone I know"):
            resolve_timezone(bad)
    with pytest.raises(ScheduleError, match="is not a timezone I know"):
        parse_schedule("weekdays 09:45", "Not/AZone")  # a bad default is refused too


@pytest.mark.parametrize(
    ("cron", "tz", "text"),
    [
        ("45 9 * * mon-fri", "Europe/Berlin", "weekdays at 09:45 (Europe/Berlin)"),
        ("45 9 * * 1-5", "Europe/Berlin", "weekdays at 09:45 (Europe/Berlin)"),
        ("45 9 * * *", "UTC", "every day at 09:45 (UTC)"),
        ("0 16 * * mon", "UTC", "Mondays at 16:00 (UTC)"),
        ("0 16 * * mon,wed,fri", "UTC", "Mondays, Wednesdays and Fridays at 16:00 (UTC)"),
        ("30 8 * * tue-thu", "UTC", "Tuesday to Thursday at 08:30 (UTC)"),
        ("0 10 * * sat,sun", "UTC", "weekends at 10:00 (UTC)"),
        ("*/15 9-17 * * mon-fri", "UTC", 'cron "*/15 9-17 * * mon-fri" (UTC)'),
        ("0 9 1 * *", "UTC", 'cron "0 9 1 * *" (UTC)'),
    ],
)
def test_describe(cron: str, tz: str, text: str) -> None:
    assert describe(cron, tz) == text


def test_day_of_week_numbers_follow_cron_not_apscheduler() -> None:
    # APScheduler 3 reads 0 as Monday; cron (and our users) mean Sunday.
    assert normalize_cron("0 9 * * 0") == "0 9 * * sun"
    assert normalize_cron("0 9 * * 7") == "0 9 * * sun"
    assert normalize_cron("0 9 * * 1-5") == "0 9 * * mon-fri"
    assert normalize_cron("0 9 * * 6,0") == "0 9 * * sat,sun"
    assert normalize_cron("0 9 * * 0-7") == "0 9 * * *"
    # A step after one number runs to the field's end, and cron's day-of-week field ends at 7.
    assert normalize_cron("0 9 * * 1/2") == "0 9 * * mon,wed,fri,sun"
    assert normalize_cron("0 9 * * 2/2") == "0 9 * * tue,thu,sat"
    sunday = next_runs("0 9 * * 0", "UTC", datetime(2026, 10, 19, tzinfo=UTC), 1)[0]
    assert sunday.date().isoformat() == "2026-10-25" and sunday.weekday() == 6


def test_next_runs_keep_local_time_across_dst() -> None:
    runs = next_runs("45 9 * * mon-fri", "Europe/Berlin", datetime(2026, 10, 22, 12, tzinfo=UTC), 4)
    assert [r.astimezone(UTC).isoformat() for r in runs] == [
        "2026-10-23T07:45:00+00:00",  # Friday, CEST (+02:00)
        "2026-10-26T08:45:00+00:00",  # Monday, CET (+01:00): Berlin fell back on Sunday the 25th
        "2026-10-27T08:45:00+00:00",
        "2026-10-28T08:45:00+00:00",
    ]
    assert all((r.hour, r.minute) == (9, 45) and r.tzinfo == BERLIN for r in runs)


def test_a_repeated_wall_time_fires_once_and_a_skipped_one_shifts_forward() -> None:
    autumn = occurrences_between(
        "30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, tzinfo=UTC),
        datetime(2026, 10, 26, tzinfo=UTC),
    )
    assert autumn == [datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
                      datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # 02:30 CEST, not again in CET
    spring = occurrences_between(
        "30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, tzinfo=UTC),
        datetime(2026, 3, 30, tzinfo=UTC),
    )
    # 02:30 does not exist on 29 March: it fires at 03:30 CEST = 01:30Z, as cron does.
    assert spring == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
                      datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]


def test_the_apscheduler_trigger_always_moves_forward_through_dst() -> None:
    # APScheduler 3.11's own CronTrigger returns the same time forever inside the repeated hour,
    # which hangs the scheduler thread; ours must advance like any other day.
    trigger = cron_trigger("30 2 * * *", "Europe/Berlin")
    assert trigger.timezone == BERLIN
    fire = trigger.get_next_fire_time(None, datetime(2026, 10, 23, tzinfo=UTC))
    seen = []
    for _ in range(4):
        assert fire is not None
        seen.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(milliseconds=200))
    assert seen == [datetime(2026, 10, d, h, 30, tzinfo=UTC)
                    for d, h in ((23, 0), (24, 0), (25, 0), (26, 1))]


def test_cron_trigger_refuses_bad_rows() -> None:
    with pytest.raises(ScheduleError):
        cron_trigger("not a cron at all", "UTC")
    with pytest.raises(ScheduleError):
        cron_trigger("45 9 * * *", "Mars/Base")
