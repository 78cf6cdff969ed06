"""Loads `prompts/*.md` templates strictly: a missing or unexpected variable is an error."""

from __future__ import annotations

import math
import re
from pathlib import Path

from bot.errors import PromptError

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def estimate_tokens(text: str) -> int:
    """An honest upper-leaning estimate (~4 characters a token for English BPE vocabularies).

    tiktoken would need its vocabulary files fetched from the internet at run time, which this
    bot must not do; the budget only has to bound the prompt, not match it exactly.
    """
    return math.ceil(len(text) / 3.6)


class Template:
    """A Markdown prompt with `{{ name }}` placeholders."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.variables = frozenset(_PLACEHOLDER.findall(text))

    def render(self, **values: object) -> str:
        missing = self.variables - values.keys()
        extra = values.keys() - self.variables
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(sorted(missing)))
            if extra:
                parts.append("unexpected " + ", ".join(sorted(extra)))
            raise PromptError(f"prompt {self.name}: " + "; ".join(parts))
        # One pass, so a value containing "{{ x }}" is never expanded again.
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.text)


class PromptLibrary:
    """The prompt folder; templates are read once and cached."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._cache: dict[str, Template] = {}

    def get(self, name: str) -> Template:
        if name not in self._cache:
            path = self.folder / f"{name}.md"
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                raise PromptError(f"prompt template not found: {path}") from None
            self._cache[name] = Template(name, text)
        return self._cache[name]

    def render(self, name: str, **values: object) -> str:
        return self.get(name).render(**values)
