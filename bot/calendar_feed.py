"""Calendar feeds (.ics over http/https): fetch, cache and list the meetings in a time window."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import IO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.errors import ScheduleError

log = logging.getLogger(__name__)

MAX_ICS_BYTES = 5_000_000  # a busy team calendar with years of history is well under 1 MB
REFRESH = timedelta(minutes=15)
RETRY_AFTER_FAILURE = timedelta(minutes=1)

Fetcher = Callable[[str, float], str]


def safe_url(url: str) -> str:
    """The URL without path or query, for logs: private calendar links carry a secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def check_url(url: str) -> str:
    """The URL to fetch (webcal:// read as https://), or a ScheduleError unless http(s)."""
    url = url.strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("webcal", "webcals"):
        url, scheme = "https" + url[len(scheme) :], "https"
    if scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ScheduleError(
            "A calendar feed must be an http(s) link to an .ics file, "
            "e.g. https://calendar.example.com/team.ics"
        )
    return url


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): never to ftp:// or file:// (urllib allows ftp)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: object, newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.URLError(f"refusing to follow a redirect to {safe_url(newurl)}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_ics(url: str, timeout: float = 10.0) -> str:
    """Download an .ics feed over http(s); a ScheduleError on any failure."""
    url = check_url(url)
    request = urllib.request.Request(
        url, headers={"User-Agent": "EmptyChair/0.1 (+calendar brief)", "Accept": "text/calendar"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_ICS_BYTES + 1)
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        # urllib raises a 3xx as an HTTPError when it refuses the target (e.g. file://).
        why = f"refusing to follow a redirect (HTTP {exc.code})" if 300 <= exc.code < 400 else (
            f"HTTP {exc.code}"
        )
        raise ScheduleError(f"Cannot fetch the calendar {safe_url(url)}: {why}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScheduleError(f"Cannot fetch the calendar {safe_url(url)}: {reason}") from None
    if len(body) > MAX_ICS_BYTES:
        raise ScheduleError(f"The calendar {safe_url(url)} is larger than {MAX_ICS_BYTES} bytes")
    return body.decode(charset, errors="replace")


@lru_cache(maxsize=8)
def _parse_calendar(ics_text: str) -> icalendar.Calendar:
    # The scheduler asks about the same (cached) text every minute; parsing is most of the cost.
    # Safe to share: recurring_ical_events copies components rather than changing them.
    return icalendar.Calendar.from_ical(ics_text)


def _as_datetime(value: object, floating_tz: ZoneInfo) -> datetime | None:
    """An aware start time, or None for an all-day event (a date, not a datetime)."""
    if isinstance(value, datetime):
        # Floating times ("09:00 wherever you are") are read in the schedule's timezone.
        return value if value.tzinfo else value.replace(tzinfo=floating_tz)
    if isinstance(value, date):
        return None
    raise ValueError(f"unexpected DTSTART {value!r}")


def upcoming_meetings(
    ics_text: str, start: datetime, end: datetime, *, default_tz: str = "UTC"
) -> list[tuple[datetime, str]]:
    """Meetings starting in [start, end): (aware start, summary), recurrences expanded, sorted.

    All-day and cancelled events are skipped; floating times are read in `default_tz`.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    try:
        calendar = _parse_calendar(ics_text)
        # `between` returns events overlapping the window; widen it by a day so floating times
        # are not cut off by the library's own reading of them, then filter on our reading.
        events = recurring_ical_events.of(calendar).between(
            start - timedelta(days=1), end + timedelta(days=1)
        )
    except Exception as exc:  # the parsers raise many types (ValueError, KeyError, their own)
        raise ScheduleError(f"The calendar feed is not valid iCalendar: {exc}") from None
    floating = ZoneInfo(default_tz)
    meetings: list[tuple[datetime, str]] = []
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        dtstart = event.get("DTSTART")
        if dtstart is None:
            continue
        begins = _as_datetime(dtstart.dt, floating)
        if begins is None or not start <= begins < end:
            continue
        meetings.append((begins, str(event.get("SUMMARY", "")).strip()))
    return sorted(meetings, key=lambda m: (m[0].astimezone(UTC), m[1]))


@dataclass
class _Entry:
    text: str | None
    fetched_at: datetime  # of the last attempt, successful or not
    error: ScheduleError | None = None


class CalendarCache:
    """Calendar texts in memory, keyed by URL, fetched at most every `refresh` per URL.

    A failed refresh keeps serving the last good text (a stale calendar beats a missed meeting)
    and is retried after `retry_after`, so a dead feed is not hammered every minute.
    """

    def __init__(
        self, fetch: Fetcher = fetch_ics, *, clock: Callable[[], datetime] | None = None,
        refresh: timedelta = REFRESH, retry_after: timedelta = RETRY_AFTER_FAILURE,
        timeout: float = 10.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refresh = refresh
        self._retry_after = retry_after
        self._timeout = timeout
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, url: str, now: datetime | None = None) -> str:
        """The calendar text for `url`, from memory when fresh; a ScheduleError if none."""
        now = now or self._clock()
        with self._lock:
            entry = self._entries.get(url)
        if entry is not None:
            wait = self._retry_after if entry.error else self._refresh
            if now - entry.fetched_at < wait:
                if entry.text is not None:
                    return entry.text
                assert entry.error is not None
                raise entry.error
        try:
            text = self._fetch(url, self._timeout)
        except ScheduleError as exc:
            stale = entry.text if entry else None
            with self._lock:
                self._entries[url] = _Entry(stale, now, exc)
            if stale is None:
                raise
            log.warning("calendar %s: refresh failed, using the last copy: %s", safe_url(url), exc)
            return stale
        with self._lock:
            self._entries[url] = _Entry(text, now)
        return text
