"""Intercom sync: conversations updated since the stored high-water mark, via the search API."""

from __future__ import annotations

from datetime import datetime

import httpx2

from bot.config import Settings
from bot.errors import ConfigError
from bot.store.db import Store
from bot.sync.core import Page, SyncState, SyncSummary, commit_page, load_state
from bot.sync.http import HelpDeskClient, RetryPolicy, SyncError

SOURCE = "intercom"
SEARCH_PATH = "/conversations/search"
API_VERSION = "2.11"
PER_PAGE = 150  # the search API's maximum
# Each run re-reads the last minute before the high-water mark: several conversations can share
# its second, and one written then may reach the search index late. Re-read rows that did not
# change are left alone and not counted as updated.
OVERLAP_SECONDS = 60
_INBOX_HOSTS = {"EU": "app.eu.intercom.com", "AU": "app.au.intercom.com"}


def intercom_client(settings: Settings, *, policy: RetryPolicy | None = None,
                    transport: httpx2.BaseTransport | None = None) -> HelpDeskClient:
    """A client for the workspace in settings; ConfigError when INTERCOM_TOKEN is missing."""
    if not settings.intercom_token:
        raise ConfigError("intercom sync needs INTERCOM_TOKEN (missing)")
    return HelpDeskClient(
        SOURCE, settings.intercom_base_url,
        headers={"Authorization": f"Bearer {settings.intercom_token}",
                 "Intercom-Version": API_VERSION},
        credentials="INTERCOM_TOKEN", base_setting="INTERCOM_BASE_URL", policy=policy,
        transport=transport,
    )


def _inbox_link(client: HelpDeskClient) -> str:
    """'…/conversation/{id}' in the workspace's inbox; conversations carry no web URL of their
    own, so the workspace comes from the token's admin (GET /me)."""
    me = client.request("GET", "/me")
    app = me.get("app")
    if not isinstance(app, dict) or not app.get("id_code"):
        return ""
    host = _INBOX_HOSTS.get(str(app.get("region") or "").upper(), "app.intercom.com")
    return f"https://{host}/a/inbox/{app['id_code']}/inbox/conversation/{{id}}"


def _record(conversation: dict[str, object], complaint_id: str, link: str) -> dict[str, object]:
    """The conversation with its tags as names, so the import path reads theme and sub-theme."""
    record = {**conversation, "id": complaint_id}
    tags = conversation.get("tags")
    if isinstance(tags, dict):
        record["tags"] = [
            str(t["name"]) for t in tags.get("tags") or []
            if isinstance(t, dict) and t.get("name")
        ]
    if link:
        record["url"] = link.format(id=conversation["id"])
    return record


def sync_intercom(store: Store, settings: Settings, *, since: datetime | None = None,
                  policy: RetryPolicy | None = None,
                  transport: httpx2.BaseTransport | None = None) -> SyncSummary:
    """Fetch conversations updated after the stored high-water mark (or `since`) and store
    them. A run stopped midway resumes its own query from the stored `starting_after`."""
    client = intercom_client(settings, policy=policy, transport=transport)
    state = load_state(store, SOURCE)
    if since is not None:
        floor, after = max(0, int(since.timestamp())), ""
    elif state.cursor:
        floor, after = state.run_floor, state.cursor
    else:
        floor, after = max(0, state.high_water - OVERLAP_SECONDS), ""
    high = state.high_water
    summary = SyncSummary(SOURCE)
    with client:
        link = _inbox_link(client)
        while True:
            pagination: dict[str, object] = {"per_page": PER_PAGE}
            if after:
                pagination["starting_after"] = after
            data = client.request("POST", SEARCH_PATH, json={
                "query": {"field": "updated_at", "operator": ">", "value": floor},
                "pagination": pagination,
            })
            conversations = data.get("conversations")
            if not isinstance(conversations, list):
                raise SyncError(f"{SOURCE}: the search answered without a conversations list")
            page = Page(fetched=len(conversations))
            for conversation in conversations:
                if not isinstance(conversation, dict) or conversation.get("id") is None:
                    continue
                conversation_id = str(conversation["id"]).strip()
                updated = conversation.get("updated_at")
                if isinstance(updated, int | float) and not isinstance(updated, bool):
                    high = max(high, int(updated))
                complaint_id = f"{SOURCE}-{conversation_id}"
                page.records.append((f"conversation {conversation_id}",
                                     _record(conversation, complaint_id, link)))
            pages = data.get("pages")
            nxt = pages.get("next") if isinstance(pages, dict) else None
            next_after = nxt.get("starting_after") if isinstance(nxt, dict) else None
            done = not isinstance(next_after, str) or not next_after or next_after == after
            state = (SyncState(cursor="", run_floor=0, high_water=high) if done
                     else SyncState(cursor=str(next_after), run_floor=floor, high_water=high))
            commit_page(store, SOURCE, page, state, summary)
            if done:
                break
            after = str(next_after)
    return summary
