"""The layering rules of DESIGN.md, checked on the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (BOT / part).glob("**/*.py")
                  if p.is_file()) if parts else []


def test_service_and_below_never_import_slack() -> None:
    below = [BOT / n for n in ("service.py", "retrieval.py", "offline.py", "llm.py", "prompts.py",
                               "redact.py", "ingest.py", "importer.py", "models.py",
                               "formatting.py", "embedding.py", "config.py")]
    below += modules("store")
    for path in below:
        if not path.exists():
            continue
        bad = {n for n in imports_of(path) if n.split(".")[0] in ("slack_bolt", "slack_sdk")}
        assert not bad, f"{path.name} imports {bad}"


def test_handlers_never_touch_store_openai_or_sqlite() -> None:
    for path in modules("slack"):
        bad = {
            n for n in imports_of(path)
            if n.split(".")[0] in ("openai", "sqlite_utils", "sqlite3")
            or n.startswith("bot.store") or n in ("bot.llm", "bot.retrieval")
        }
        assert not bad, f"{path.name} imports {bad}"


def test_only_config_reads_the_environment() -> None:
    for path in BOT.glob("**/*.py"):
        if path.name == "config.py" or "sandbox" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        assert "os.environ" not in source and "getenv(" not in source, path


def test_every_module_has_a_one_line_docstring() -> None:
    for path in BOT.glob("**/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree)
        assert doc, f"{path} has no module docstring"
        assert "\n" not in doc.strip(), f"{path} docstring is not one line"
