"""The Slack app manifest: Socket Mode by default, or HTTP request URLs for a public host."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

MANIFEST_PATH = Path(__file__).resolve().parent.parent.parent / "manifest.json"

def manifest(url: str | None = None) -> dict[str, Any]:
    """The manifest; with `url` (https://host) it is switched to HTTP mode at that host."""
    data: dict[str, Any] = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    if not url:
        return data
    data = copy.deepcopy(data)
    events = url.rstrip("/") + "/slack/events"
    settings = data["settings"]
    settings["socket_mode_enabled"] = False
    settings["event_subscriptions"]["request_url"] = events
    settings["interactivity"]["request_url"] = events
    for command in data["features"]["slash_commands"]:
        command["url"] = events
    return data
