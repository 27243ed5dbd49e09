"""Every command block the docs mark as runnable runs as documented.

A block is marked with the info string `bash runnable`:

    ```bash runnable
    callpath company create --id acme --name "Acme LLC"
    ```

The blocks of one document run in order, in one shell each (`bash -euo pipefail`), in a
throwaway copy of the repository with no CALLPATH_* variables set, so a guide's steps
may build on each other (create a company, then its site) exactly as a reader would
type them. Blocks that need a compose CLI are skipped where there is none, unless CI
sets CALLPATH_REQUIRE_SYSTEM_TOOLS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```bash runnable[ \t]*\n(.*?)^```", re.M | re.S)
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", "reports", "target", "logs", "__pycache__", ".env", "*.duckdb"
)


def runnable_blocks(doc: Path) -> list[str]:
    return BLOCK.findall(doc.read_text())


def _has_compose() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


MARKED = [doc for doc in DOCS if runnable_blocks(doc)]


def test_the_guides_mark_their_commands_runnable():
    names = {doc.relative_to(ROOT).as_posix() for doc in MARKED}
    assert {"docs/operator.md", "docs/analyst.md", "docs/developer.md"} <= names
    assert sum(len(runnable_blocks(doc)) for doc in MARKED) >= 6


def test_the_block_pattern_finds_marked_blocks_only(tmp_path: Path):
    doc = tmp_path / "probe.md"
    doc.write_text("```bash\nnot me\n```\n\n```bash runnable\necho one\necho two\n```\n")
    assert runnable_blocks(doc) == ["echo one\necho two\n"]


@pytest.mark.parametrize("doc", MARKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_runnable_block_exits_zero(doc: Path, tmp_path: Path):
    workdir = tmp_path / "callpath"
    shutil.copytree(ROOT, workdir, ignore=COPY_IGNORE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLPATH_", "COMPOSE_"))}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "120"
    compose = _has_compose()
    ran = 0
    for number, block in enumerate(runnable_blocks(doc), start=1):
        if "docker compose" in block and not compose:
            if os.environ.get("CALLPATH_REQUIRE_SYSTEM_TOOLS"):
                pytest.fail(f"{doc.name} block {number} needs `docker compose`, absent here")
            continue
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"{doc.name}, runnable block {number} failed ({result.returncode}):\n{block}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
        ran += 1
    assert ran or not compose
