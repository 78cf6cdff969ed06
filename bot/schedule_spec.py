"""Schedule specs: parse `/emptychair schedule …` to (cron, timezone), describe, find fire times."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, available_timezones

from apscheduler.triggers.cron import CronTrigger
from cronsim import CronSim, CronSimError

from bot.errors import ScheduleError

EXAMPLES = 'Examples: weekdays 09:45 · mon,wed,fri 16:00 Europe/Berlin · cron "45 9 * * 1-5"'
CRON_EXAMPLE = 'Example: cron "45 9 * * 1-5" Europe/Berlin'

# Cron numbering (0 = Sunday). APScheduler 3's own numbering is 0 = Monday (agronholm/apscheduler
# #286, unfixed in 3.x), so we never hand it a weekday number: the day-of-week field is always
# rewritten to names, which both conventions read the same way.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONDAY_FIRST = (1, 2, 3, 4, 5, 6, 0)
_DAY_WORDS: dict[str, int] = {}
for _i, _full in enumerate(
    ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
):
    for _word in (_full, _full + "s", _full[:3], _full[:3] + "s"):
        _DAY_WORDS[_word] = _i
_DAY_WORDS.update({"tues": 2, "weds": 3, "thur": 4, "thurs": 4})
_DAY_GROUPS: dict[str, frozenset[int]] = {
    **dict.fromkeys(("daily", "day", "days", "everyday"), frozenset(range(7))),
    **dict.fromkeys(("weekday", "weekdays"), frozenset(range(1, 6))),
    **dict.fromkeys(("weekend", "weekends"), frozenset({0, 6})),
}
_FILLERS = {"at", "every", "on", "each"}
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_RANGES = ("0–59", "0–23", "1–31", "1–12 or jan–dec", "0–7 or sun–sat")
_OPEN_QUOTES = "\"'“”„‘’«"
_CLOSE_QUOTES = "\"'“”‘’»"
_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?(am|pm)?$")

# A fire time is found by walking wall-clock times and mapping them to instants; a DST change moves
# a wall-clock time by at most 2 hours (Antarctica/Troll), so 3 hours of slack catches every move.
_DST_SLACK = timedelta(hours=3)
_CHUNK = timedelta(days=7)
_HORIZON = timedelta(days=5 * 366)


def _tz_error(name: str) -> ScheduleError:
    return ScheduleError(
        f'"{name}" is not a timezone I know: use an IANA name like Europe/Berlin, '
        "America/New_York or UTC. Example: weekdays 09:45 Europe/Berlin"
    )


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def resolve_timezone(name: str) -> str:
    """The canonical IANA name for `name` (case-insensitive), or a ScheduleError."""
    # Looking the name up in the tz database's own list (rather than ZoneInfo(name) alone) refuses
    # paths like "../x" and folders like "Europe" with the same clear message.
    canonical = _zones_by_lower_name().get(name.strip().lower())
    if canonical is None:
        raise _tz_error(name)
    return canonical


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a timezone name, or a ScheduleError."""
    return ZoneInfo(resolve_timezone(name))


# --- the human forms -------------------------------------------------------------------------


def _parse_time(token: str) -> tuple[int, int]:
    bad = ScheduleError(
        f'"{token}" is not a time of day: use 24-hour HH:MM (00:00–23:59) or 12-hour like 8:30am. '
        "Example: weekdays 09:45"
    )
    match = _TIME_RE.match(token.lower())
    if not match:
        raise bad
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if match[2] is None and half is None:
        raise bad  # a bare "9" is too easy to mistype; ask for 9:00 or 9am
    if half:
        if not 1 <= hour <= 12:
            raise bad
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise bad
    return hour, minute


def _day_error(token: str) -> ScheduleError:
    return ScheduleError(
        f'"{token}" is not a day: use daily, weekdays, weekends, a day like mon, a list like '
        "mon,wed,fri or a range like tue-thu. Example: mon,wed,fri 16:00"
    )


def _parse_days(tokens: list[str]) -> frozenset[int]:
    days: set[int] = set()
    for token in tokens:
        for item in token.split(","):
            word = item.strip().lower()
            if not word:
                continue
            if word in _DAY_GROUPS:
                days |= _DAY_GROUPS[word]
            elif word in _DAY_WORDS:
                days.add(_DAY_WORDS[word])
            elif "-" in word:
                first, _, last = word.partition("-")
                if first not in _DAY_WORDS or last not in _DAY_WORDS:
                    raise _day_error(item.strip())
                # Monday-first positions, so "fri-mon" wraps over the weekend as people mean it.
                start = _MONDAY_FIRST.index(_DAY_WORDS[first])
                length = (_MONDAY_FIRST.index(_DAY_WORDS[last]) - start) % 7 + 1
                days.update(_MONDAY_FIRST[(start + k) % 7] for k in range(length))
            else:
                raise _day_error(item.strip())
    if not days:
        raise _day_error(" ".join(tokens))
    return frozenset(days)


def _dow_field(days: frozenset[int]) -> str:
    """Cron day-of-week field in names, Monday first, runs of three or more as ranges."""
    if len(days) == 7:
        return "*"
    order = [d for d in _MONDAY_FIRST if d in days]
    parts: list[str] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and _MONDAY_FIRST.index(order[j + 1]) == (
            _MONDAY_FIRST.index(order[j]) + 1
        ):
            j += 1
        if j - i >= 2:
            parts.append(f"{_CRON_DAYS[order[i]]}-{_CRON_DAYS[order[j]]}")
        else:
            parts.extend(_CRON_DAYS[d] for d in order[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _parse_human(text: str, default_tz: str) -> tuple[str, str]:
    text = re.sub(r"\s*,\s*", ",", text)
    text = re.sub(r"(?<=[A-Za-z])\s*-\s*(?=[A-Za-z])", "-", text)  # "mon - fri"; not "Port-au-…"
    text = re.sub(r"(?i)(\d)\s+(am|pm)\b", r"\1\2", text)
    tokens = [t for t in text.split() if t.lower() not in _FILLERS]
    at = next((i for i, t in enumerate(tokens) if t[0].isdigit()), None)
    if at is None:
        if tokens:
            _parse_days(tokens)  # an unknown word gets the unknown-day message, not "add a time"
        raise ScheduleError(f"Add a time of day, like weekdays 09:45. {EXAMPLES}")
    hour, minute = _parse_time(tokens[at])
    days = _parse_days(tokens[:at]) if at else _DAY_GROUPS["daily"]
    rest = tokens[at + 1 :]
    if len(rest) > 1:
        raise ScheduleError(f'I did not understand "{" ".join(rest)}". {EXAMPLES}')
    tz = resolve_timezone(rest[0] if rest else default_tz)
    return f"{minute} {hour} * * {_dow_field(days)}", tz


# --- the cron form ---------------------------------------------------------------------------


# cronsim reads each field as cron does (0 and 7 are Sunday, steps run to the field's end);
# we allow only the syntax APScheduler shares with it (no L, W, # or ?), since the stored cron
# also builds the APScheduler trigger.
_ITEM = r"(?:\*|(?:\d+|[a-z]{3})(?:-(?:\d+|[a-z]{3}))?)(?:/\d+)?"
_PLAIN_FIELD = re.compile(rf"{_ITEM}(?:,{_ITEM})*", re.IGNORECASE)
_ANY_TIME = datetime(2000, 1, 1)


def _cron(expr: str) -> CronSim:
    return CronSim(expr, _ANY_TIME)


def _field_ok(index: int, text: str) -> bool:
    if not _PLAIN_FIELD.fullmatch(text):
        return False
    fields = ["*"] * 5
    fields[index] = text
    try:
        _cron(" ".join(fields))
    except CronSimError:
        return False
    return True


def cron_weekdays(field: str) -> frozenset[int]:
    """The days (0 = Sunday … 6 = Saturday) a crontab day-of-week field selects; ValueError if
    it is not a plain list, range or step."""
    if not _field_ok(4, field):
        raise ValueError(field)
    # Only "#" and "L" forms give tuples, and _field_ok refuses those.
    return frozenset(day % 7 for day in _cron(f"* * * * {field}").weekdays if isinstance(day, int))


def _cron_error(expr: str, why: str) -> ScheduleError:
    return ScheduleError(f'Invalid cron expression "{expr}": {why}. {CRON_EXAMPLE}')


@lru_cache(maxsize=256)
def normalize_cron(expr: str) -> str:
    """Validate a five-field crontab and rewrite its day-of-week field to names.

    Standard cron semantics: day-of-week 0 and 7 are Sunday. The result means the same to cron and
    to APScheduler 3.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            "A cron expression needs 5 fields (minute hour day-of-month month day-of-week), "
            f'got {len(fields)} in "{expr.strip()}". {CRON_EXAMPLE}'
        )
    shown = " ".join(fields)
    try:
        days = cron_weekdays(fields[4])
    except ValueError:
        raise _cron_error(
            shown, f'the day-of-week field "{fields[4]}" is not valid (allowed: 0–7 or sun–sat, '
            "lists, ranges and steps)"
        ) from None
    if not fields[2].startswith("*") and len(days) < 7:
        # Cron runs when EITHER day field matches, APScheduler only when both do: refuse rather
        # than guess which one the user meant.
        raise _cron_error(shown, "set the day of month or the day of week, not both")
    for index in range(4):
        if not _field_ok(index, fields[index]):
            raise _cron_error(
                shown, f'the {_FIELD_NAMES[index]} field "{fields[index]}" is not valid '
                f"(allowed: {_FIELD_RANGES[index]}, *, lists, ranges and steps like */15)"
            )
    fields[4] = _dow_field(days)
    normalized = " ".join(fields)
    try:
        # Every field is valid alone, so cronsim refusing the whole means no date matches them
        # all (the 31st of February).
        _cron(normalized)
    except CronSimError:
        raise _cron_error(shown, "it never fires") from None
    return normalized


def check_at_most_hourly(cron: str) -> None:
    """A ScheduleError if a cron posts more than once in some hour.

    One minute value means any two runs are at least an hour apart (a different hour or day);
    two or more put two runs in the same hour.
    """
    per_hour = len(_cron(cron).minutes)
    if per_hour > 1:
        raise ScheduleError(
            f'Briefs can be scheduled at most once an hour, and cron "{cron}" would post '
            f"{per_hour} times in an hour. Pick one minute of the hour. {CRON_EXAMPLE}"
        )


def _parse_cron(text: str, default_tz: str) -> tuple[str, str]:
    text = text.strip()
    if text and text[0] in _OPEN_QUOTES:
        end = next((i for i in range(1, len(text)) if text[i] in _CLOSE_QUOTES), None)
        if end is None:
            raise ScheduleError(f"Close the quotes around the cron expression. {CRON_EXAMPLE}")
        expr, rest = text[1:end], text[end + 1 :].split()
    else:
        tokens = text.split()
        expr, rest = " ".join(tokens[:5]), tokens[5:]
        if len(tokens) not in (5, 6):
            expr, rest = text, []
    if len(rest) > 1:
        raise ScheduleError(f'I did not understand "{" ".join(rest)}". {CRON_EXAMPLE}')
    cron = normalize_cron(expr)
    # Checked here, where people write schedules, not in normalize_cron: rows already stored keep
    # running rather than going silent.
    check_at_most_hourly(cron)
    return cron, resolve_timezone(rest[0] if rest else default_tz)


def parse_schedule(args: str, default_tz: str) -> tuple[str, str]:
    """Parse what follows `/emptychair schedule` into (five-field cron, IANA timezone).

    Accepts `weekdays 09:45`, `daily 9:45`, `mon 09:45 Europe/Berlin`, `mon,wed,fri 16:00`,
    `tue-thu 8:30am` and `cron "45 9 * * 1-5" [TZ]` (straight or curly quotes). The cron returned
    has its day-of-week in names, e.g. "45 9 * * mon-fri". Crons that post more than once in an
    hour are refused.
    """
    text = args.strip()
    if not text:
        raise ScheduleError(f"Tell me when to post the brief. {EXAMPLES}")
    head, _, tail = text.partition(" ")
    if head.lower() == "cron":
        return _parse_cron(tail, default_tz)
    return _parse_human(text, default_tz)


# --- describing and walking ------------------------------------------------------------------


def _plural(day: int) -> str:
    return ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays",
            "Saturdays")[day]


def _describe_days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "every day"
    if days == _DAY_GROUPS["weekdays"]:
        return "weekdays"
    if days == _DAY_GROUPS["weekends"]:
        return "weekends"
    order = [d for d in _MONDAY_FIRST if d in days]
    positions = [_MONDAY_FIRST.index(d) for d in order]
    if len(order) >= 3 and positions == list(range(positions[0], positions[0] + len(order))):
        return f"{_plural(order[0])[:-1]} to {_plural(order[-1])[:-1]}"
    names = [_plural(d) for d in order]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def describe(cron: str, tz: str) -> str:
    """Plain words for a schedule, e.g. "weekdays at 09:45 (Europe/Berlin)"."""
    fields = cron.split()
    if len(fields) == 5:
        minute, hour, dom, month, dow = fields
        if minute.isdigit() and hour.isdigit() and dom == "*" and month == "*":
            try:
                days = cron_weekdays(dow)
            except ValueError:
                days = frozenset()
            if days:
                return f"{_describe_days(days)} at {int(hour):02d}:{int(minute):02d} ({tz})"
    return f'cron "{cron}" ({tz})'


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    """The local wall-clock reading at `moment`, as a naive datetime (no DST to jump over)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def occurrences_between(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Fire instants t with start < t <= end, in UTC, ascending.

    APScheduler 3.11's CronTrigger loops forever on times inside the repeated hour of a DST change
    (agronholm/apscheduler#1021), and cronsim runs a skipped time at the end of the gap, so fire
    times are computed here instead: walk naive local wall-clock times with cronsim and map each
    to an instant. A wall time that
    happens twice (autumn) fires once, at its first occurrence; one that does not exist (spring)
    fires shifted forward by the gap (02:30 → 03:30).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    local = zone(tz)
    first, last = _wall(start, local) - _DST_SLACK, _wall(end, local) + _DST_SLACK
    found: set[datetime] = set()
    for wall in CronSim(normalize_cron(cron), first):
        if wall > last:
            break
        # fold=0: the first of two readings in autumn; in a spring gap the offset from before it.
        instant = wall.replace(tzinfo=local, fold=0).astimezone(UTC)
        if start < instant <= end:
            found.add(instant)
    return sorted(found)


def iter_occurrences(cron: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Fire instants strictly after `after`, in UTC, ascending; ends if none within five years."""
    cursor, quiet = after, timedelta(0)
    while quiet < _HORIZON:
        batch = occurrences_between(cron, tz, cursor, cursor + _CHUNK)
        yield from batch
        quiet = timedelta(0) if batch else quiet + _CHUNK
        cursor += _CHUNK


def next_runs(cron: str, tz: str, after: datetime, n: int) -> list[datetime]:
    """The next `n` fire times strictly after `after`, in the schedule's timezone."""
    local = zone(tz)
    return [t.astimezone(local) for t in islice(iter_occurrences(cron, tz, after), n)]


def next_fire(cron: str, tz: str, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in the schedule's timezone, or None."""
    runs = next_runs(cron, tz, after, 1)
    return runs[0] if runs else None


class WallClockCronTrigger(CronTrigger):
    """A CronTrigger whose fire times come from `occurrences_between` (DST-safe, cron numbering).

    Built by `cron_trigger`; `timezone` is the schedule's ZoneInfo as usual.
    """

    cron: str
    tz_name: str

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Strictly after the previous fire time (so APScheduler's catch-up loop always advances),
        # else from `now` inclusive, as CronTrigger does.
        after = previous_fire_time if previous_fire_time else now - timedelta(microseconds=1)
        return next_fire(self.cron, self.tz_name, after)


def cron_trigger(cron: str, tz: str) -> WallClockCronTrigger:
    """The APScheduler trigger for a stored schedule (validated; a ScheduleError if invalid)."""
    name = resolve_timezone(tz)
    normalized = normalize_cron(cron)
    trigger = WallClockCronTrigger.from_crontab(normalized, timezone=ZoneInfo(name))
    trigger.cron, trigger.tz_name = normalized, name
    return trigger
