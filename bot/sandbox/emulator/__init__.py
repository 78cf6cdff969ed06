"""A Slack Web API emulator on 127.0.0.1: real HTTP, in-memory workspace state, recorded calls."""

from bot.sandbox.emulator.base import ApiError, Listener, RecordedCall, UploadedFile, web_api
from bot.sandbox.emulator.core import SlackEmulator
from bot.sandbox.emulator.wire import JSON_PARAMS

__all__ = [
    "JSON_PARAMS", "ApiError", "Listener", "RecordedCall", "SlackEmulator", "UploadedFile",
    "web_api",
]
