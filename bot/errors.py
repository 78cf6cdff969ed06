"""The project's exception hierarchy: every error a user may see derives from EmptyChairError."""

from __future__ import annotations


class EmptyChairError(Exception):
    """Base class; its message is safe to show to a user as-is."""


class ConfigError(EmptyChairError):
    """Settings are missing or invalid."""


class StoreError(EmptyChairError):
    """The complaint store cannot be opened or written."""


class IngestError(EmptyChairError):
    """An import file cannot be read at all (bad path, unknown format, no text column)."""


class PromptError(EmptyChairError):
    """A prompt template is missing or a template variable was not supplied."""


class LLMError(EmptyChairError):
    """The language model failed or returned nothing usable."""


class LLMContextError(LLMError):
    """The server refused the prompt as longer than the model's context window.

    The caller can shrink what it sends and ask once more; the counts are the server's own when
    it gave them (llama.cpp does), else None.
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None = None,
        context_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


class ScheduleError(EmptyChairError):
    """A schedule specification is invalid."""
