"""The whole bot on one machine: emulator + real Bolt app over HTTP + driver (tests, demo, REPL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import Components, health, load_complaints, setup
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.sandbox.driver import SlackDriver
from bot.sandbox.emulator import SlackEmulator
from bot.slack.server import HttpServer

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"
SAMPLE = PROJECT_ROOT / "data" / "sample_complaints.csv"


@dataclass
class SandboxStack:
    """Start with `with SandboxStack(db) as stack:`; everything listens on 127.0.0.1 only."""

    db_path: Path
    llm_base_url: str = ""
    load_sample: bool = False
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    # The caller's settings (the CLI's); the sandbox replaces only its Slack, LLM and database.
    base_settings: Settings | None = None
    emulator: SlackEmulator = field(init=False)
    components: Components = field(init=False)
    http: HttpServer = field(init=False)
    driver: SlackDriver = field(init=False)

    def start(self) -> SandboxStack:
        self.emulator = SlackEmulator().start()
        base = self.base_settings.model_dump(by_alias=True) if self.base_settings else {}
        settings = load_settings(**{
            **base,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_BASE_URL": self.emulator.base_url,
            "EMPTYCHAIR_DB": self.db_path,
            "OPENAI_BASE_URL": self.llm_base_url,
            "OPENAI_API_KEY": "",  # the sandbox never talks to a real LLM service
            **self.settings_overrides,
        })
        self.components = setup(settings, slack=True)
        if self.load_sample:
            self.import_sample()
        assert self.components.bolt is not None
        self.http = HttpServer(self.components.bolt, "127.0.0.1", 0,
                               health=lambda: health(self.components),
                               foreground=self.components.foreground).start()
        self.driver = SlackDriver(self.http.url, SIGNING_SECRET, emulator=self.emulator)
        return self

    def import_sample(self, path: Path = SAMPLE) -> str:
        """Load the bundled complaints, dates re-based so the newest is today."""
        return load_complaints(self.components, path, rebase_to=datetime.now(UTC)).line()

    def stop(self) -> None:
        self.http.stop()
        self.emulator.stop()
        self.components.store.close()

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
