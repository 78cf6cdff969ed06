"""Scheduled customer briefs: APScheduler 3 jobs from the schedules table, at most one post each."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, as_completed
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.calendar_feed import CalendarCache, CalendarFeeds, safe_url
from bot.errors import ScheduleError
from bot.models import Schedule
from bot.schedule_spec import cron_trigger, occurrences_between, resolve_timezone
from bot.store.db import Store
from bot.store.events import prune_seen
from bot.store.schedules import ScheduleStore, occurrence_key

log = logging.getLogger("bot.scheduler")

# post_brief(schedule, occurrence) posts one brief; it may return the Slack message ts to record.
PostBrief = Callable[[Schedule, datetime], str | None]

JOB_PREFIX = "brief-"
POLL_JOB_ID = "emptychair-poll"
PRUNE_JOB_ID = "emptychair-prune-seen"
# How far back a first look (after a start) searches for missed occurrences to report. The claims
# table bounds it in practice (nothing before the last claimed occurrence is looked at again).
LOOKBACK = timedelta(days=7)
_MAX_SKIP_LINES = 5  # per schedule and call: a long outage of an every-minute cron stays readable
# How long one look waits for all calendar feeds together; a feed not ready by then is looked at
# again next time (its fetch and expansion carry on, each within its own deadline).
CALENDAR_WAIT = 20.0


def default_instance_id() -> str:
    """Who claimed an occurrence: host, pid and a random suffix (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BriefScheduler:
    """Posts each schedule's briefs on time, once, via the `post_brief` callback.

    Every way in (the per-schedule cron jobs, the poll job, the catch-up on start, tests) goes
    through `run_due`, which works out the due occurrences from the schedules table and the clock,
    and `fire`, which claims an occurrence in SQLite before posting it. The claim is what makes a
    brief at-most-once across restarts and across processes sharing the database; APScheduler only
    decides *when* to look.
    """

    def __init__(
        self,
        store: Store,
        post_brief: PostBrief,
        *,
        clock: Callable[[], datetime] | None = None,
        misfire_grace: timedelta = timedelta(minutes=30),
        instance_id: str | None = None,
        timezone: str = "UTC",
        calendars: CalendarCache | CalendarFeeds | None = None,
        poll_interval: timedelta = timedelta(minutes=1),
        calendar_wait: float = CALENDAR_WAIT,
    ) -> None:
        self.schedules = ScheduleStore(store)
        self.store = store
        self.instance_id = instance_id or default_instance_id()
        self.misfire_grace = misfire_grace
        self._post_brief = post_brief
        self._clock = clock or (lambda: datetime.now(UTC))
        if isinstance(calendars, CalendarFeeds):
            self._feeds = calendars
        else:
            self._feeds = CalendarFeeds(calendars or CalendarCache(clock=self._clock))
        self._calendar_wait = calendar_wait
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # sync() runs from the poll job and from callers
        # Per schedule, the `now` of the last run_due that looked at it: the next look starts there,
        # so each occurrence is considered (and a skip logged) once per process.
        self._horizons: dict[int, datetime] = {}
        self._job_specs: dict[str, tuple[object, ...]] = {}
        self._warned: set[tuple[int, str]] = set()  # the poll repeats every minute: warn once
        self.scheduler = BackgroundScheduler(
            timezone=ZoneInfo(resolve_timezone(timezone)),
            # Few schedules, each post is I/O (LLM, Slack): a small pool is plenty.
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(misfire_grace.total_seconds())),
            },
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Build the jobs, post what was missed within the grace period, then start the clock."""
        if self.scheduler.running:
            return
        self.sync()
        self.scheduler.add_job(
            self._poll, IntervalTrigger(seconds=self._poll_interval.total_seconds()),
            id=POLL_JOB_ID, name="sync schedules and post due briefs", replace_existing=True,
        )
        self.scheduler.add_job(
            self.prune, IntervalTrigger(hours=1), id=PRUNE_JOB_ID,
            name="forget old Slack event ids, signatures and asks", replace_existing=True,
        )
        # Catch-up before APScheduler runs, synchronously: what was missed while the bot was down
        # is posted (within grace) or logged as skipped before anything else happens.
        self.run_due()
        self.scheduler.start()
        log.info("brief scheduler started as %s with %d job(s)", self.instance_id,
                 len(self._job_specs))

    def prune(self) -> dict[str, int]:
        """Drop de-duplication rows past their use (their tables would grow for ever)."""
        removed = prune_seen(self.store)
        log.info("pruned %s", " ".join(f"{k}={v}" for k, v in removed.items()))
        return removed

    def add_interval_job(self, job_id: str, func: Callable[[], object], minutes: float) -> None:
        """Run `func` every `minutes` (the help-desk sync): one run at a time, missed runs
        coalesced into one, the job replaced when added again under the same id."""
        self.scheduler.add_job(
            func, IntervalTrigger(minutes=minutes), id=job_id, name=job_id,
            replace_existing=True, coalesce=True, max_instances=1,
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop the clock; by default let a brief being posted finish (its claim is taken)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self._feeds.close()

    # --- jobs --------------------------------------------------------------------------------

    def sync(self) -> None:
        """(Re)build one job per schedule, `brief-<id>`; drop the jobs of removed schedules.

        Cron schedules get a DST-safe CronTrigger in the schedule's timezone; calendar schedules
        poll (every `poll_interval`), since their times come from the feed.
        """
        with self._sync_lock:
            self._sync()

    def _sync(self) -> None:
        wanted: dict[str, tuple[object, ...]] = {}
        for schedule in self.schedules.list():
            job_id = f"{JOB_PREFIX}{schedule.id}"
            spec: tuple[object, ...] = (
                schedule.kind, schedule.cron, schedule.timezone, schedule.calendar_url
            )
            wanted[job_id] = spec
            if self._job_specs.get(job_id) == spec:
                continue  # unchanged: re-adding would only churn APScheduler's next run time
            try:
                if schedule.kind == "cron":
                    trigger: object = cron_trigger(schedule.cron, schedule.timezone)
                else:
                    trigger = IntervalTrigger(
                        seconds=self._poll_interval.total_seconds(),
                        timezone=ZoneInfo(resolve_timezone(schedule.timezone)),
                    )
            except ScheduleError as exc:
                # Remembered as synced (without a job) so the warning is not repeated every poll.
                log.warning("schedule %s is invalid and will not run: %s", schedule.id, exc)
                self._job_specs[job_id] = spec
                if self.scheduler.get_job(job_id) is not None:
                    self.scheduler.remove_job(job_id)
                continue
            self.scheduler.add_job(
                self._run_job, trigger, args=[schedule.id], id=job_id,
                name=f"brief for {schedule.channel_id}", replace_existing=True,
                coalesce=True, max_instances=1,
                misfire_grace_time=max(1, int(self.misfire_grace.total_seconds())),
            )
            self._job_specs[job_id] = spec
        for job_id in list(self._job_specs):
            if job_id not in wanted:
                self._job_specs.pop(job_id)
                if self.scheduler.get_job(job_id) is not None:
                    self.scheduler.remove_job(job_id)
        with self._lock:
            live = {int(job_id[len(JOB_PREFIX):]) for job_id in wanted}
            for schedule_id in list(self._horizons):
                if schedule_id not in live:
                    del self._horizons[schedule_id]

    def _run_job(self, schedule_id: int) -> None:
        try:
            self._run(self._clock(), only=schedule_id)
        except Exception:
            log.exception("brief job for schedule %s failed", schedule_id)

    def _poll(self) -> None:
        # Picks up schedules added or removed by another process, calendar meetings, and anything
        # a cron job missed (its own misfire, a clock jump).
        try:
            self.sync()
            self.run_due()
        except Exception:
            log.exception("brief poll failed")

    # --- deciding and firing -----------------------------------------------------------------

    def run_due(self, now: datetime | None = None) -> list[tuple[int, datetime]]:
        """Fire every occurrence that is due at `now`; return the (schedule id, occurrence) fired.

        Due means: the latest occurrence of a schedule after its previous look (and after its last
        claimed occurrence and its creation), not later than `now`, and no more than
        `misfire_grace` before `now`. Older ones are skipped with an INFO log line; several
        missed ones coalesce into the latest.
        """
        return self._run(now or self._clock(), only=None)

    def _run(self, now: datetime, only: int | None) -> list[tuple[int, datetime]]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        schedules = self.schedules.list()
        if only is not None:
            schedules = [s for s in schedules if s.id == only]
        fired: list[tuple[int, datetime]] = []
        # Calendar lookups start first and run on the feeds' pool while the cron schedules are
        # decided and posted: a slow feed delays no cron brief and no other feed.
        pending: dict[Future[list[tuple[datetime, str]]], tuple[Schedule, datetime]] = {}
        for schedule in schedules:
            if schedule.kind != "calendar":
                continue
            lower = self._lower(schedule, now)
            if lower is None:
                continue
            before = timedelta(minutes=schedule.minutes_before)
            try:
                tz = resolve_timezone(schedule.timezone)
            except ScheduleError as exc:
                self._warn_once(schedule, exc)
                continue
            future = self._feeds.submit(
                schedule.calendar_url, now, lower + before, now + before + timedelta(seconds=1),
                tz,
            )
            pending[future] = (schedule, lower)
        for schedule in schedules:
            if schedule.kind == "calendar":
                continue
            assert schedule.id is not None
            lower = self._lower(schedule, now)
            if lower is None:
                continue
            try:
                occurrences = occurrences_between(schedule.cron, schedule.timezone, lower, now)
            except ScheduleError as exc:
                # Not advancing the horizon: the next look covers this window again.
                self._warn_once(schedule, exc)
                continue
            self._advance(schedule.id, now)
            fired.extend(self._fire_latest(schedule, occurrences, now))
        if pending:
            fired.extend(self._collect(pending, now))
        return fired

    def _collect(
        self, pending: dict[Future[list[tuple[datetime, str]]], tuple[Schedule, datetime]],
        now: datetime,
    ) -> list[tuple[int, datetime]]:
        fired: list[tuple[int, datetime]] = []
        try:
            for future in as_completed(pending, timeout=self._calendar_wait):
                schedule, lower = pending[future]
                assert schedule.id is not None
                try:
                    meetings = future.result()
                except ScheduleError as exc:
                    self._warn_once(schedule, exc)
                    continue
                except Exception:
                    log.exception("schedule %s: the calendar lookup failed", schedule.id)
                    continue
                before = timedelta(minutes=schedule.minutes_before)
                found = {
                    (start - before).astimezone(UTC).replace(microsecond=0)
                    for start, _ in meetings
                }
                self._advance(schedule.id, now)
                occurrences = sorted(t for t in found if lower < t <= now)
                fired.extend(self._fire_latest(schedule, occurrences, now))
        except FutureTimeout:
            late = [pending[f][0].id for f in pending if not f.done()]
            log.info("calendar schedule(s) %s not ready in time; looking again next poll", late)
        return fired

    def _fire_latest(
        self, schedule: Schedule, occurrences: list[datetime], now: datetime
    ) -> list[tuple[int, datetime]]:
        assert schedule.id is not None
        if not occurrences:
            return []
        latest = occurrences[-1]
        self._log_skipped(schedule.id, occurrences[:-1], latest, now)
        if now - latest > self.misfire_grace:
            self._log_skipped(schedule.id, [latest], None, now)
            return []
        return [(schedule.id, latest)] if self.fire(schedule.id, latest) else []

    def _warn_once(self, schedule: Schedule, exc: ScheduleError) -> None:
        assert schedule.id is not None
        if (schedule.id, str(exc)) not in self._warned:
            self._warned.add((schedule.id, str(exc)))
            log.warning("schedule %s: cannot work out its times: %s", schedule.id, exc)

    def _lower(self, schedule: Schedule, now: datetime) -> datetime | None:
        """Where the next look at a schedule starts: occurrences in (lower, now] are new."""
        assert schedule.id is not None
        lower = now - max(LOOKBACK, 2 * self.misfire_grace)
        if schedule.created_at is not None and schedule.created_at > lower:
            lower = schedule.created_at  # occurrences before the schedule existed never count
        claimed = self.schedules.last_occurrence(schedule.id)
        if claimed is not None and lower < claimed <= now:
            # Everything up to the last claimed occurrence was decided, by this process or another.
            # (A future claim, from a manual `fire`, must not hide the occurrences before it.)
            lower = claimed
        with self._lock:
            horizon = self._horizons.get(schedule.id)
        if horizon is not None and lower < horizon <= now:
            lower = horizon
        return lower if lower < now else None

    def _advance(self, schedule_id: int, now: datetime) -> None:
        with self._lock:
            if self._horizons.get(schedule_id, now) <= now:
                self._horizons[schedule_id] = now

    def _log_skipped(
        self, schedule_id: int, skipped: list[datetime], superseded_by: datetime | None,
        now: datetime,
    ) -> None:
        for occurrence in skipped[-_MAX_SKIP_LINES:]:
            late = now - occurrence
            if superseded_by is not None and late <= self.misfire_grace:
                why = f"coalesced into the later occurrence {occurrence_key(superseded_by)}"
            else:
                why = f"missed by {late}, more than the {self.misfire_grace} grace period"
            log.info("schedule %s: skipped the brief for occurrence %s: %s",
                     schedule_id, occurrence_key(occurrence), why)
        if len(skipped) > _MAX_SKIP_LINES:
            log.info("schedule %s: skipped %d earlier occurrence(s) too",
                     schedule_id, len(skipped) - _MAX_SKIP_LINES)

    def fire(self, schedule_id: int, occurrence: datetime) -> bool:
        """Claim the occurrence, then post it; False if the schedule is gone or already claimed.

        True means this call won the claim and called `post_brief` (which may have failed).
        """
        if occurrence.tzinfo is None:
            raise ValueError("occurrence must be timezone-aware")
        occurrence = occurrence.astimezone(UTC).replace(microsecond=0)
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            # Removed since run_due listed it (or never existed): nothing to post to.
            log.info("schedule %s: removed, not posting occurrence %s",
                     schedule_id, occurrence_key(occurrence))
            return False
        if not self.schedules.claim_occurrence(
            schedule_id, occurrence, self.instance_id, claimed_at=self._clock()
        ):
            log.debug("schedule %s: occurrence %s already claimed",
                      schedule_id, occurrence_key(occurrence))
            return False
        where = safe_url(schedule.calendar_url) if schedule.kind == "calendar" else schedule.cron
        log.info("schedule %s: posting the brief for occurrence %s to %s (%s)",
                 schedule_id, occurrence_key(occurrence), schedule.channel_id, where)
        try:
            ts = self._post_brief(schedule, occurrence)
        except Exception:
            # Not retried, on purpose: the claim stays and this occurrence is done. A failed post
            # may still have reached Slack (a timeout after delivery), and a retry would then be
            # the double post this module exists to prevent. The next occurrence's brief covers
            # everything since the last brief, and `/emptychair brief` is there on demand.
            log.exception("schedule %s: posting the brief for occurrence %s failed; "
                          "not retrying", schedule_id, occurrence_key(occurrence))
            return True
        if isinstance(ts, str) and ts:
            try:
                self.schedules.mark_posted(schedule_id, occurrence, ts)
            except Exception:
                log.exception("schedule %s: could not record the posted brief's ts", schedule_id)
        return True
