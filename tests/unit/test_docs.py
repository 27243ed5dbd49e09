"""README.md and docs/ stay true to the code: settings, entry points, routes, paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from realtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
THIS_DIR = Path(__file__).resolve().parent

SETTINGS_VARS = {f"CALLPATH_{name.upper()}": name for name in Settings.model_fields}

# Top-level entries that hold runtime state, not repository content.
NOT_REPO = {"var", "reports", "logs", ".venv", ".env"}
FILE_SUFFIXES = (".py", ".yml", ".yaml", ".sql", ".md", ".toml", ".lock", ".cfg", ".txt")


def _strip_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def _section(text: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"README has no '## {heading}' section"
    return m.group(1)


def _config_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in _section(README.read_text(), "Configuration").splitlines():
        m = re.match(r"^\|\s*`(CALLPATH_\w+)`\s*\|(.*)\|(.*)\|\s*$", line)
        if m:
            name, default, description = m.groups()
            assert name not in rows, f"{name} is listed twice"
            rows[name] = (default.strip(), description.strip())
    return rows


def _render_default(name: str) -> str:
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    if value is None:
        return "(unset)"
    if value in ("", []):
        return "(empty)"
    if isinstance(value, list):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def _names_in_code() -> set[str]:
    """CALLPATH_* names that some code (not the docs or these doc tests) reads."""
    names: set[str] = set()
    for top in ("realtime", "pipelines", "connectors", "dags", "dbt", "tests"):
        for path in (ROOT / top).rglob("*"):
            if (
                path.suffix in (".py", ".yml", ".sql")
                and path.parent != THIS_DIR
                and not {"target", "logs"} & set(path.relative_to(ROOT).parts)
            ):
                names |= set(re.findall(r"\bCALLPATH_\w+", path.read_text(errors="replace")))
    for path in THIS_DIR.glob("*.py"):
        if path.name not in ("test_docs.py", "test_compose.py"):
            names |= set(re.findall(r"\bCALLPATH_\w+", path.read_text(errors="replace")))
    return names


def test_config_table_lists_every_settings_field_and_nothing_else():
    rows = _config_rows()
    assert set(rows) == set(SETTINGS_VARS)


@pytest.mark.parametrize("variable", sorted(SETTINGS_VARS))
def test_config_table_row_matches_the_field(variable):
    default, description = _config_rows()[variable]
    field = SETTINGS_VARS[variable]
    assert default == _render_default(field)
    assert description == Settings.model_fields[field].description


def test_settings_really_read_the_documented_prefix():
    assert Settings.model_config["env_prefix"] == "CALLPATH_"


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_docs_name_no_unknown_callpath_variable(doc):
    mentioned = set(re.findall(r"\bCALLPATH_\w+", doc.read_text()))
    unknown = mentioned - set(SETTINGS_VARS) - _names_in_code()
    assert not unknown, f"{doc.name} names variables nothing reads: {sorted(unknown)}"


def test_readme_opens_with_exactly_make_demo_and_make_test():
    text = README.read_text()
    blocks = _fenced_blocks(text)
    assert blocks, "README has no code block"
    lang, body = blocks[0]
    assert lang in ("", "sh", "bash", "shell", "console")
    assert [line.strip() for line in body.splitlines() if line.strip()] == [
        "make demo",
        "make test",
    ]
    # ... and it comes right after the one-paragraph introduction, before any section.
    before = text[: text.index("```")]
    assert "\n## " not in before
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)


def _looks_like_repo_path(token: str) -> bool:
    if " " in token or "://" in token or token.startswith(("/", "~", "$", "<")):
        return False
    if any(ch in token for ch in "*?{}[]()=<>|'\""):
        return False
    first = token.split("/", 1)[0]
    if first in NOT_REPO:
        return False
    if "/" in token:
        return (ROOT / first).is_dir() or token.endswith(FILE_SUFFIXES)
    return (ROOT / token).is_file() or (
        token in {"Makefile", "Dockerfile", "docker-compose.yml", ".env.example", ".dockerignore"}
    )


def _backticked_paths(doc: Path) -> set[str]:
    tokens = re.findall(r"`([^`\n]+)`", _strip_fences(doc.read_text()))
    return {t.strip() for t in tokens if _looks_like_repo_path(t.strip())}


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_repo_path_in_backticks_exists(doc):
    paths = _backticked_paths(doc)
    assert paths, f"{doc.name} mentions no repo path: is the path heuristic broken?"
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"{doc.name} mentions paths that do not exist: {missing}"


def test_path_heuristic_catches_repo_paths_and_skips_the_rest():
    assert _looks_like_repo_path("pipelines/raw_schema.py")
    assert _looks_like_repo_path("dbt/models/")
    assert _looks_like_repo_path("pipelines/no_such_module.py")
    assert not _looks_like_repo_path("var/warehouse.duckdb")
    assert not _looks_like_repo_path("sqlite:///var/events.sqlite3")
    assert not _looks_like_repo_path("/v1/visits")
    assert not _looks_like_repo_path("POST /mango/events/call")


def test_architecture_doc_exists_and_is_linked():
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert "`docs/architecture.md`" in README.read_text()


CORE_ROUTES = {
    "POST /v1/visits",
    "POST /mango/events/call",
    "POST /mango/events/summary",
    "GET /healthz",
}
CORE_COMMANDS = {"callpath serve", "callpath demo", "callpath pipeline run"}


def _app_routes(tmp_path: Path) -> set[str]:
    from realtime.app import create_app

    settings = Settings(
        _env_file=None,
        event_store_url=f"sqlite:///{tmp_path / 'events.sqlite3'}",
        var_dir=tmp_path,
    )
    app = create_app(settings)
    try:
        return {
            f"{method} {route.path}"
            for route in app.routes
            for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}
        }
    finally:
        app.state.store.close()


def test_readme_http_api_names_real_routes_and_the_core_ones(tmp_path):
    api = _section(README.read_text(), "HTTP API")
    documented = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /[^`\s]*)`", api))
    routes = _app_routes(tmp_path)
    assert documented - routes == set(), "README documents routes the app does not have"
    assert documented >= CORE_ROUTES
    assert "GET /docs" in routes
    assert "`/docs`" in api


def _command_paths() -> set[str]:
    from realtime.cli import app

    def walk(group, prefix: str) -> set[str]:
        paths = set()
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                paths |= walk(command, f"{prefix} {name}")
            else:
                paths.add(f"{prefix} {name}")
        return paths

    return walk(typer.main.get_command(app), "callpath")


def test_readme_cli_names_real_commands_and_the_core_ones():
    cli = _section(README.read_text(), "CLI")
    documented = set()
    for token in re.findall(r"`(callpath [^`]*)`", cli):
        words = [w for w in token.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
        documented.add(" ".join(words))
    commands = _command_paths()
    assert documented - commands == set(), "README documents commands the CLI does not have"
    assert CORE_COMMANDS <= documented <= commands
