"""Zendesk sync: the cursor-based incremental ticket export, page by page, into the store."""

from __future__ import annotations

import re
import time
from datetime import datetime

import httpx2

from bot.config import Settings
from bot.errors import ConfigError
from bot.ingest import parse_date
from bot.store.db import Store
from bot.sync.core import Page, SyncState, SyncSummary, commit_page, load_state
from bot.sync.http import HelpDeskClient, RetryPolicy, SyncError

SOURCE = "zendesk"
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
_API_TICKET_URL = re.compile(r"(https?://[^/\s]+)/api/v2/tickets/(\d+)\.json")


def zendesk_client(settings: Settings, *, policy: RetryPolicy | None = None,
                   transport: httpx2.BaseTransport | None = None) -> HelpDeskClient:
    """A client for the account in settings; ConfigError naming every missing variable."""
    missing = [name for name, value in (
        ("ZENDESK_SUBDOMAIN", settings.zendesk_subdomain or settings.zendesk_base_url),
        ("ZENDESK_EMAIL", settings.zendesk_email),
        ("ZENDESK_API_TOKEN", settings.zendesk_api_token),
    ) if not value]
    if missing:
        raise ConfigError(f"zendesk sync needs {', '.join(missing)} (missing)")
    base = settings.zendesk_base_url or f"https://{settings.zendesk_subdomain}.zendesk.com"
    return HelpDeskClient(
        SOURCE, base, auth=httpx2.BasicAuth(f"{settings.zendesk_email}/token",
                                            settings.zendesk_api_token),
        credentials="ZENDESK_EMAIL and ZENDESK_API_TOKEN",
        base_setting="ZENDESK_SUBDOMAIN or ZENDESK_BASE_URL", policy=policy, transport=transport,
    )


def _epoch(value: object) -> int:
    moment = parse_date(value) if value is not None else None
    return int(moment.timestamp()) if moment else 0


def agent_url(ticket: dict[str, object]) -> str:
    """The ticket as agents open it: the export's `url` is the API's JSON resource."""
    url = str(ticket.get("url") or "")
    m = _API_TICKET_URL.fullmatch(url)
    return f"{m[1]}/agent/tickets/{m[2]}" if m else url


def sync_zendesk(store: Store, settings: Settings, *, since: datetime | None = None,
                 policy: RetryPolicy | None = None,
                 transport: httpx2.BaseTransport | None = None) -> SyncSummary:
    """Fetch tickets changed since the stored cursor (or `since`, or the beginning) and store
    them; each page is committed with the cursor that follows it."""
    client = zendesk_client(settings, policy=policy, transport=transport)
    state = load_state(store, SOURCE)
    if since is not None:
        # The export refuses a start time within the last minute.
        start = max(0, min(int(since.timestamp()), int(time.time()) - 60))
        state = SyncState(cursor="", run_floor=start, high_water=state.high_water)
    params: dict[str, object] = (
        {"cursor": state.cursor} if state.cursor else {"start_time": state.run_floor}
    )
    summary = SyncSummary(SOURCE)
    with client:
        while True:
            data = client.request("GET", EXPORT_PATH, params=params)
            tickets = data.get("tickets")
            if not isinstance(tickets, list):
                raise SyncError(f"{SOURCE}: the export answered without a tickets list")
            page = Page(fetched=len(tickets))
            high = state.high_water
            for ticket in tickets:
                if not isinstance(ticket, dict) or ticket.get("id") is None:
                    continue
                ticket_id = str(ticket["id"]).strip()
                complaint_id = f"{SOURCE}-{ticket_id}"
                high = max(high, _epoch(ticket.get("updated_at")))
                if ticket.get("status") == "deleted":
                    page.deleted_ids.append(complaint_id)
                    continue
                record = {**ticket, "id": complaint_id, "url": agent_url(ticket)}
                page.records.append((f"ticket {ticket_id}", record))
            after = data.get("after_cursor")
            after = after if isinstance(after, str) and after else None
            # An empty page may come without a cursor: the next run asks from the same place.
            state = SyncState(cursor=after or state.cursor, run_floor=state.run_floor,
                              high_water=high)
            commit_page(store, SOURCE, page, state, summary)
            if data.get("end_of_stream") is True or after is None \
                    or after == params.get("cursor"):
                break
            params = {"cursor": after}
    return summary
