"""The layering rules of DESIGN.md, checked with ast on every module under bot/."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
ALL = sorted(BOT.rglob("*.py"))

# Entry points and the composition root: they may know every layer.
COMPOSITION = {"app.py"}
ENTRY_POINTS = {"cli.py"}
ADAPTERS = ("slack", "sandbox")  # Slack's side of the house, and the local Slack
# The service and everything below it: no Slack, whatever the module is called.
BELOW_THE_SERVICE = [
    p for p in ALL
    if p.relative_to(BOT).parts[0] not in ADAPTERS
    and p.name not in COMPOSITION | ENTRY_POINTS
]
HANDLERS = [p for p in ALL if p.relative_to(BOT).parts[0] == "slack"]

# Concrete objects that only the composition root builds. A factory it delegates to is listed
# with the one class it may build (Slack's client and app live with the Slack adapter, the
# OpenAI client with bot/llm.py).
BUILT_ONLY_IN_APP = {"Store", "Retriever", "ChairService", "BriefScheduler", "WebClient", "App",
                     "OpenAIClient", "SocketModeHandler"}
FACTORIES = {
    "slack/app.py": {"WebClient", "App"},
    "slack/server.py": {"SocketModeHandler"},
    "llm.py": {"OpenAIClient"},
}


def rel(path: Path) -> str:
    return path.relative_to(BOT).as_posix()


@cache
def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports_of(path: Path) -> set[str]:
    """Every module imported anywhere in the file (functions included: a lazy import counts)."""
    names: set[str] = set()
    package = ".".join(("bot", *path.relative_to(BOT).parent.parts))
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def constructed(path: Path) -> set[str]:
    """Names of the classes called in the file (`Store(...)`, `slack_sdk.WebClient(...)`)."""
    out: set[str] = set()
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                out.add(func.id)
            elif isinstance(func, ast.Attribute):
                out.add(func.attr)
    return out


def test_the_walk_sees_every_module() -> None:
    names = {rel(p) for p in ALL}
    # Modules a fixed list once left out must be among those checked.
    assert {"briefs.py", "scheduler.py", "schedule_spec.py", "calendar_feed.py", "charts.py",
            "service.py", "store/db.py", "slack/handlers.py", "sandbox/stack.py"} <= names
    assert len(BELOW_THE_SERVICE) > 20


@pytest.mark.parametrize("path", BELOW_THE_SERVICE, ids=rel)
def test_service_and_below_never_import_slack(path: Path) -> None:
    bad = {n for n in imports_of(path)
           if n.split(".")[0] in ("slack_bolt", "slack_sdk") or n.startswith("bot.slack")}
    assert not bad, f"{rel(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", HANDLERS, ids=rel)
def test_handlers_never_touch_store_openai_or_sqlite(path: Path) -> None:
    bad = {
        n for n in imports_of(path)
        if n.split(".")[0] in ("openai", "sqlite_utils", "sqlite3")
        or n.startswith(("bot.store", "bot.llm", "bot.retrieval"))
    }
    assert not bad, f"{rel(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", [p for p in ALL if rel(p) != "config.py"], ids=rel)
def test_only_config_reads_the_environment(path: Path) -> None:
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert not (node.value.id == "os" and node.attr in ("environ", "getenv", "putenv",
                                                                 "environb")), (
                f"{rel(path)}:{node.lineno} reads the environment; use bot.config.Settings")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {a.name for a in node.names}
            assert not names & {"environ", "getenv", "environb"}, f"{rel(path)}:{node.lineno}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = ({a.name for a in node.names} if isinstance(node, ast.Import)
                       else {node.module or ""})
            assert "dotenv" not in {m.split(".")[0] for m in modules}, rel(path)


@pytest.mark.parametrize("path", [p for p in ALL if rel(p) != "app.py"], ids=rel)
def test_only_the_composition_root_builds_the_parts(path: Path) -> None:
    allowed = FACTORIES.get(rel(path), set())
    bad = (constructed(path) & BUILT_ONLY_IN_APP) - allowed
    assert not bad, (f"{rel(path)} builds {sorted(bad)}; build it in bot/app.py (setup) and "
                     "pass it in")


@pytest.mark.parametrize("path", [p for p in ALL if rel(p) != "app.py"], ids=rel)
def test_only_entry_points_import_the_composition_root(path: Path) -> None:
    entry = rel(path) in ENTRY_POINTS or rel(path).startswith("sandbox/")
    if entry:
        return
    assert "bot.app" not in {n.rsplit(".", 1)[0] if n.startswith("bot.app.") else n
                             for n in imports_of(path)}, rel(path)


def test_factories_are_called_only_from_the_composition_root() -> None:
    """The Slack client and Bolt app factories are reached through bot/app.py."""
    for path in ALL:
        if rel(path) in ("app.py", "slack/app.py") or rel(path).startswith("slack/"):
            continue
        names = imports_of(path)
        assert "bot.slack.app.build_web_client" not in names, rel(path)
        assert "bot.slack.app.build_bolt_app" not in names, rel(path)


def test_sandbox_and_cli_use_the_one_setup() -> None:
    for name in ("cli.py", "sandbox/stack.py"):
        calls = constructed(BOT / name)
        assert "setup" in calls, f"{name} does not call bot.app.setup"
        assert "Settings" not in calls, f"{name} builds Settings itself; use load_settings"


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_every_module_has_a_one_line_docstring(path: Path) -> None:
    doc = ast.get_docstring(tree_of(path))
    assert doc, f"{rel(path)} has no module docstring"
    assert "\n" not in doc.strip(), f"{rel(path)} docstring is not one line"


def test_shared_models_live_in_models() -> None:
    from bot import formatting, models
    from bot.store import feedback

    assert feedback.OpenChallenge is models.OpenChallenge
    hints = formatting.format_home.__annotations__
    assert "Any" not in str(hints["summary"]) and "Any" not in str(hints["open_challenges"])
