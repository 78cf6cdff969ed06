"""Calendar feeds (.ics over http/https): fetch safely, cache, and list the meetings in a window."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import multiprocessing
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.errors import ScheduleError

log = logging.getLogger(__name__)

MAX_ICS_BYTES = 5_000_000  # a busy team calendar with years of history is well under 1 MB
REFRESH = timedelta(minutes=15)
RETRY_AFTER_FAILURE = timedelta(minutes=1)
FETCH_DEADLINE = 10.0  # seconds for the whole fetch: resolving, connecting, redirects, body
MAX_REDIRECTS = 3
HORIZON = timedelta(days=14)  # no meeting further ahead than this is expanded
EXPAND_BEHIND = timedelta(days=2)  # covers the largest minutes-before (a day) and the grace
MAX_OCCURRENCES = 200  # per feed and expansion
EXPAND_TIME_BOX = 5.0  # seconds of one expansion before its worker process is killed
# Meetings never repeat every second or minute, and dateutil walks such rules one step at a time
# from DTSTART: a single 174-byte event could otherwise cost seconds of CPU per look.
_DENSE_FREQS = frozenset({"SECONDLY", "MINUTELY"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "EmptyChair/0.1 (+calendar brief)"
COULD_NOT_USE = (
    "I could not use that calendar. Check that the link is a public http(s) .ics feed, "
    "e.g. https://calendar.example.com/team.ics"
)

Fetcher = Callable[[str, float], str]
Resolver = Callable[[str, int], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class CalendarError(ScheduleError):
    """A feed that cannot be used. Its message is the same whatever went wrong, so a user cannot
    tell an internal address from a dead one; `reason` is for DEBUG logs and tests only."""

    def __init__(self, reason: str) -> None:
        super().__init__(COULD_NOT_USE)
        self.reason = reason


def safe_url(url: str) -> str:
    """The URL without path or query, for logs: private calendar links carry a secret token."""
    try:
        host = urlsplit(url).hostname or "?"
        scheme = urlsplit(url).scheme
    except ValueError:
        return "?"
    return f"{scheme}://{host}/…"


def check_url(url: str) -> str:
    """The URL to fetch (webcal:// read as https://), or a ScheduleError unless http(s).

    Links with credentials are refused: they would be sent on and end up in logs.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("webcal", "webcals"):
            url, scheme = "https" + url[len(scheme) :], "https"
            parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # .port raises on a bad or out-of-range port
    except ValueError:
        raise CalendarError("malformed URL") from None
    if scheme not in ("http", "https") or not host:
        raise ScheduleError(
            "A calendar feed must be an http(s) link to an .ics file, "
            "e.g. https://calendar.example.com/team.ics"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CalendarError("credentials in the URL")
    if any(ch.isspace() or ord(ch) < 0x21 for ch in url):
        raise CalendarError("whitespace or control characters in the URL")
    del port
    return url


# --- which addresses may be fetched -------------------------------------------------------------

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCT = re.compile(r"0[0-7]+")
_DEC = re.compile(r"[0-9]+")


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of the spellings inet_aton accepts (2130706433, 0x7f.1, 0177.0.0.1)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            values.append(int(part[2:] or "0", 16))
        elif _OCT.fullmatch(part):
            values.append(int(part, 8))
        elif _DEC.fullmatch(part):
            values.append(int(part))
        else:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> Address | None:
    """The address a host names by itself, in any numeric spelling; None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return _inet_aton(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.append(ip.teredo[1])
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: Address) -> bool:
    """True for a globally routable unicast address; IPv6 forms that embed an IPv4 address
    (::ffff:127.0.0.1, 6to4, Teredo, NAT64) are judged by that address too."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(not is_public(v4) for v4 in _embedded_ipv4(ip)):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )


@dataclass(frozen=True)
class AllowList:
    """Hosts (by name) and addresses or networks that may be fetched although not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | str) -> AllowList:
        if isinstance(entries, str):
            entries = entries.split(",")
        names: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            item = entry.strip().strip("[]").rstrip(".").lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item)
        return cls(frozenset(names), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.names

    def allows_address(self, ip: Address) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (looked up at call time, not import)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def resolve_checked(
    host: str, port: int, allow: AllowList, resolver: Resolver | None = None
) -> str:
    """The one address to connect to for host, after checking every address it resolves to.

    Refused (CalendarError) when any address is not public and not allowed: a name that answers
    with one public and one internal address is treated as internal.
    """
    literal = literal_address(host)
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii")
            found = (resolver or system_resolver)(ascii_host, port)
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        except Exception as exc:  # resolvers raise socket.gaierror, UnicodeError, their own
            raise CalendarError(f"cannot resolve the host ({type(exc).__name__})") from None
        if not addresses:
            raise CalendarError("the host has no address")
    if not allow.allows_host(host):
        for ip in addresses:
            if not (is_public(ip) or allow.allows_address(ip)):
                raise CalendarError(f"refusing a non-public address {ip}")
    return str(addresses[0])


# --- fetching -----------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to by now."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address; SNI and certificate checks use the URL's host name."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _abort(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    # Runs on a timer thread at the deadline: a feed that drips a byte at a time never lets a
    # socket timeout fire, so the socket is shut under the reader instead.
    expired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class _Reply:
    status: int
    location: str | None = None
    body: bytes = b""
    charset: str = "utf-8"


def _get_once(url: str, ip: str, deadline: float, max_bytes: int) -> _Reply:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CalendarError("deadline passed")
    conn_type = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    conn = conn_type(host.encode("idna").decode("ascii"), port, ip=ip, timeout=remaining)
    expired = threading.Event()
    timer = threading.Timer(remaining, _abort, args=(conn, expired))
    timer.daemon = True
    timer.start()
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("GET", path, headers={
            "User-Agent": _USER_AGENT, "Accept": "text/calendar", "Accept-Encoding": "identity",
        })
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            return _Reply(response.status, response.getheader("Location"))
        if response.status != 200:
            return _Reply(response.status)
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_bytes:
            raise CalendarError(f"larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or expired.is_set():
                raise CalendarError("deadline passed while reading")
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            chunk = response.read1(65536)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise CalendarError(f"larger than {max_bytes} bytes")
            chunks.append(chunk)
        if expired.is_set():
            raise CalendarError("deadline passed while reading")  # the EOF was our own shutdown
        charset = response.headers.get_content_charset() or "utf-8"
        return _Reply(200, body=b"".join(chunks), charset=charset)
    except CalendarError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        why = "deadline passed" if expired.is_set() else type(exc).__name__
        raise CalendarError(f"connection failed: {why}") from None
    finally:
        timer.cancel()
        conn.close()


def fetch_ics(
    url: str, timeout: float = FETCH_DEADLINE, *,
    allow_hosts: AllowList | Iterable[str] | str = (),
    resolver: Resolver | None = None, max_bytes: int = MAX_ICS_BYTES,
    max_redirects: int = MAX_REDIRECTS,
) -> str:
    """Download an .ics feed over http(s) within one deadline of `timeout` seconds in all.

    Every hop (at most `max_redirects` redirects) is resolved once, checked (public addresses
    only, unless allowed by `allow_hosts`) and connected to at the checked address. Any failure is
    a CalendarError whose message does not say what failed; the reason goes to a DEBUG log.
    """
    deadline = time.monotonic() + timeout
    allow = allow_hosts if isinstance(allow_hosts, AllowList) else AllowList.parse(allow_hosts)
    first = url
    try:
        current = check_url(url)
        for _hop in range(max_redirects + 1):
            parts = urlsplit(current)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            ip = resolve_checked(host, port, allow, resolver)
            reply = _get_once(current, ip, deadline, max_bytes)
            if reply.status in _REDIRECTS:
                if not reply.location:
                    raise CalendarError(f"HTTP {reply.status} without a Location")
                target = urljoin(current, reply.location.strip())
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise CalendarError("refusing to follow a redirect to another scheme")
                current = check_url(target)
                continue
            if reply.status != 200:
                raise CalendarError(f"HTTP {reply.status}")
            try:
                return reply.body.decode(reply.charset, errors="replace")
            except LookupError:
                return reply.body.decode("utf-8", errors="replace")
        raise CalendarError(f"more than {max_redirects} redirects")
    except CalendarError as exc:
        log.debug("calendar %s: not used: %s", safe_url(first), exc.reason)
        raise


@dataclass(frozen=True)
class FeedFetcher:
    """fetch_ics with the installation's allow-list and limits: a `Fetcher` for CalendarCache."""

    allow: AllowList = field(default_factory=AllowList)
    resolver: Resolver | None = None
    max_bytes: int = MAX_ICS_BYTES

    def __call__(self, url: str, timeout: float) -> str:
        return fetch_ics(url, timeout, allow_hosts=self.allow, resolver=self.resolver,
                         max_bytes=self.max_bytes)


# --- expanding ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _parse_calendar(ics_text: str) -> icalendar.Calendar:
    # The scheduler asks about the same (cached) text every minute; parsing is most of the cost.
    # Safe to share: recurring_ical_events copies components rather than changing them.
    calendar = icalendar.Calendar.from_ical(ics_text)
    for component in list(calendar.subcomponents):
        rules = component.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules else []:
            freq = rule.get("FREQ") or [""]
            if str(freq[0]).upper() in _DENSE_FREQS:
                calendar.subcomponents.remove(component)
                log.debug("calendar: skipped an event that repeats %s", str(freq[0]).lower())
                break
    return calendar


def _as_datetime(value: object, floating_tz: ZoneInfo) -> datetime | None:
    """An aware start time, or None for an all-day event (a date, not a datetime)."""
    if isinstance(value, datetime):
        # Floating times ("09:00 wherever you are") are read in the schedule's timezone.
        return value if value.tzinfo else value.replace(tzinfo=floating_tz)
    if isinstance(value, date):
        return None
    raise ValueError(f"unexpected DTSTART {type(value).__name__}")


def upcoming_meetings(
    ics_text: str, start: datetime, end: datetime, *, default_tz: str = "UTC",
    max_occurrences: int = MAX_OCCURRENCES,
) -> list[tuple[datetime, str]]:
    """Meetings starting in [start, end): (aware start, summary), recurrences expanded, sorted.

    All-day and cancelled events are skipped; floating times are read in `default_tz`; events
    repeating every second or minute are skipped; at most `max_occurrences`, the earliest.
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
        # The exception's text can quote the feed, which must not reach a log or a user.
        raise CalendarError(f"not valid iCalendar ({type(exc).__name__})") from None
    floating = ZoneInfo(default_tz)
    meetings: list[tuple[datetime, str]] = []
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        dtstart = event.get("DTSTART")
        if dtstart is None:
            continue
        try:
            begins = _as_datetime(dtstart.dt, floating)
        except ValueError:
            continue
        if begins is None or not start <= begins < end:
            continue
        meetings.append((begins, str(event.get("SUMMARY", "")).strip()))
    meetings.sort(key=lambda m: (m[0].astimezone(UTC), m[1]))
    return meetings[:max_occurrences]


def _expand_in_worker(conn: Connection) -> None:
    """A worker process: expand calendars sent over `conn` until it closes."""
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        text, start, end, tz, cap = job
        try:
            found = upcoming_meetings(text, start, end, default_tz=tz, max_occurrences=cap)
            conn.send(("ok", [(m.astimezone(UTC), s) for m, s in found]))
        except CalendarError as exc:
            conn.send(("error", exc.reason))
        except Exception as exc:
            conn.send(("error", type(exc).__name__))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_expand_in_worker, args=(child,), daemon=True,
                                   name="emptychair-calendar")
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class Expander:
    """Expands calendars in worker processes, each expansion time-boxed.

    A thread cannot be stopped mid-computation, and dateutil can spend many seconds inside one
    step on a rule that never matches (Feb 30); a process can be killed at the deadline. Each
    caller has a worker of its own, so killing a stuck one loses nobody else's work.
    """

    def __init__(self, time_box: float = EXPAND_TIME_BOX, workers: int = 2,
                 start_timeout: float = 60.0) -> None:
        self.time_box = time_box
        self._start_timeout = start_timeout
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._ctx = multiprocessing.get_context("spawn")  # fork with threads running is unsafe
        self._closed = False

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        worker = _Worker(self._ctx)
        # Start-up (importing the parsers) is not part of the time box.
        if not worker.conn.poll(self._start_timeout):
            worker.kill()
            raise CalendarError("the calendar worker did not start")
        worker.conn.recv()
        return worker

    def meetings(
        self, ics_text: str, start: datetime, end: datetime, default_tz: str,
        max_occurrences: int = MAX_OCCURRENCES,
    ) -> list[tuple[datetime, str]]:
        """upcoming_meetings in a worker process; a CalendarError past the time box."""
        with self._slots:
            if self._closed:
                raise CalendarError("shut down")
            worker = self._take()
            try:
                worker.conn.send((ics_text, start, end, default_tz, max_occurrences))
                ready = worker.conn.poll(self.time_box)
            except (OSError, EOFError):
                worker.kill()
                raise CalendarError("the calendar worker failed") from None
            if not ready:
                worker.kill()
                raise CalendarError(f"expanding took longer than {self.time_box} s")
            try:
                status, value = worker.conn.recv()
            except (OSError, EOFError):
                worker.kill()
                raise CalendarError("the calendar worker failed") from None
            self._idle.put(worker)
        if status != "ok":
            raise CalendarError(str(value))
        return list(value)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


# --- caching and scheduling ---------------------------------------------------------------------


@dataclass
class _Entry:
    text: str | None
    fetched_at: datetime  # of the last attempt, successful or not
    error: ScheduleError | None = None


class CalendarCache:
    """Calendar texts in memory, keyed by URL, fetched at most every `refresh` per URL.

    A failed refresh keeps serving the last good text (a stale calendar beats a missed meeting)
    and is retried after `retry_after`, so a dead feed is not hammered every minute. One fetch per
    URL at a time: a second caller waits for the first one's result instead of fetching again.
    """

    def __init__(
        self, fetch: Fetcher = fetch_ics, *, clock: Callable[[], datetime] | None = None,
        refresh: timedelta = REFRESH, retry_after: timedelta = RETRY_AFTER_FAILURE,
        timeout: float = FETCH_DEADLINE,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refresh = refresh
        self._retry_after = retry_after
        self._timeout = timeout
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._url_locks: dict[str, threading.Lock] = {}

    def _fresh(self, url: str, now: datetime) -> tuple[_Entry | None, bool]:
        with self._lock:
            entry = self._entries.get(url)
        if entry is None:
            return None, False
        wait = self._retry_after if entry.error else self._refresh
        return entry, now - entry.fetched_at < wait

    def get(self, url: str, now: datetime | None = None) -> str:
        """The calendar text for `url`, from memory when fresh; a ScheduleError if none."""
        now = now or self._clock()
        with self._lock:
            url_lock = self._url_locks.setdefault(url, threading.Lock())
        with url_lock:
            entry, fresh = self._fresh(url, now)
            if entry is not None and fresh:
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
                log.warning("calendar %s: refresh failed, using the last copy", safe_url(url))
                return stale
            with self._lock:
                self._entries[url] = _Entry(text, now)
            return text


@dataclass
class _Expanded:
    text: str
    tz: str
    start: datetime
    end: datetime
    meetings: list[tuple[datetime, str]]


class CalendarFeeds:
    """Meetings of calendar feeds, worked out on a small thread pool, one future per lookup.

    Fetching (network, its own deadline) and expanding (a worker process, time-boxed) happen off
    the caller's thread, so a scheduler can wait for all feeds together with one deadline and
    leave a slow one for its next look. An expansion covers [now - 2 days, now + horizon] and is
    reused until the text changes, so the minute-by-minute polls cost a filter, not a parse.
    """

    def __init__(
        self, cache: CalendarCache | None = None, *, expander: Expander | None = None,
        workers: int = 4, horizon: timedelta = HORIZON,
        max_occurrences: int = MAX_OCCURRENCES,
    ) -> None:
        self.cache = cache or CalendarCache()
        self.expander = expander or Expander()
        self.horizon = horizon
        self.max_occurrences = max_occurrences
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emptychair-cal")
        self._expanded: dict[tuple[str, str], _Expanded] = {}
        self._lock = threading.Lock()

    def submit(
        self, url: str, now: datetime, start: datetime, end: datetime, default_tz: str
    ) -> Future[list[tuple[datetime, str]]]:
        """A future of the meetings of `url` starting in [start, end), clipped to what an
        expansion at `now` covers."""
        return self._pool.submit(self.meetings, url, now, start, end, default_tz)

    def meetings(
        self, url: str, now: datetime, start: datetime, end: datetime, default_tz: str
    ) -> list[tuple[datetime, str]]:
        text = self.cache.get(url, now)
        key = (url, default_tz)
        with self._lock:
            done = self._expanded.get(key)
        # Only the end can outgrow an expansion: a start before it (a catch-up after days down)
        # is clipped, since meetings that long ago can only be logged as missed.
        if done is None or done.text != text or end > done.end:
            lower = now - EXPAND_BEHIND
            upper = now + self.horizon
            found = self.expander.meetings(text, lower, upper, default_tz, self.max_occurrences)
            if len(found) >= self.max_occurrences:
                upper = found[-1][0]  # capped: what lies beyond the last one kept is unknown
            done = _Expanded(text, default_tz, lower, upper, found)
            with self._lock:
                self._expanded[key] = done
        return [(m, s) for m, s in done.meetings if start <= m < end]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.expander.close()
