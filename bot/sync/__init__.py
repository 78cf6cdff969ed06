"""Help-desk syncs (Zendesk, Intercom): new, updated and deleted tickets into the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.errors import ConfigError, EmptyChairError
from bot.store.db import Store
from bot.sync.core import SyncSummary
from bot.sync.http import RetryPolicy, SyncError

if TYPE_CHECKING:
    from bot.scheduler import BriefScheduler

__all__ = ["SOURCES", "RetryPolicy", "SyncError", "SyncSummary", "configured_sources",
           "run_sync", "schedule_syncs", "scheduled_job"]

log = logging.getLogger("bot.sync")

SOURCES = ("zendesk", "intercom")
JOB_ID_PREFIX = "helpdesk-sync-"


def run_sync(source: str, store: Store, settings: Settings, *, since: datetime | None = None,
             policy: RetryPolicy | None = None) -> SyncSummary:
    """One sync of `source` ("zendesk" or "intercom")."""
    if source == "zendesk":
        from bot.sync.zendesk import sync_zendesk

        return sync_zendesk(store, settings, since=since, policy=policy)
    if source == "intercom":
        from bot.sync.intercom import sync_intercom

        return sync_intercom(store, settings, since=since, policy=policy)
    raise ConfigError(f"unknown help desk {source!r}: use {' or '.join(SOURCES)}")


def configured_sources(settings: Settings) -> list[str]:
    """The help desks whose credentials are all set."""
    out = []
    if (settings.zendesk_subdomain or settings.zendesk_base_url) and settings.zendesk_email \
            and settings.zendesk_api_token:
        out.append("zendesk")
    if settings.intercom_token:
        out.append("intercom")
    return out


def scheduled_job(source: str, store: Store, settings: Settings) -> Callable[[], None]:
    """The job `serve` runs every EMPTYCHAIR_SYNC_MINUTES: a failure is logged, not raised,
    and the next run resumes from the stored cursor."""

    def job() -> None:
        try:
            summary = run_sync(source, store, settings)
        except EmptyChairError as exc:
            log.warning("scheduled sync failed: %s", exc)
            return
        except Exception:
            log.exception("scheduled %s sync failed", source)
            return
        log.info("scheduled sync: %s", summary.line())

    return job


def schedule_syncs(scheduler: BriefScheduler | None, settings: Settings, store: Store) -> list[str]:
    """Inside `serve`: every EMPTYCHAIR_SYNC_MINUTES, each help desk whose credentials are set.
    Returns the job ids added."""
    if not settings.sync_minutes or scheduler is None:
        return []
    added = []
    for source in configured_sources(settings):
        job_id = f"{JOB_ID_PREFIX}{source}"
        scheduler.add_interval_job(job_id, scheduled_job(source, store, settings),
                                   settings.sync_minutes)
        added.append(job_id)
    return added
