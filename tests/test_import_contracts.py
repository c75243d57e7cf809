"""The layer rules in pyproject.toml ([tool.importlinter]) hold on the package, and each one fails on an
import that breaks it: the checker is run on a copy of the package with one offending import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module file, the import appended to it, the contract it breaks): the first three are the imports the
# issue that introduced the checker found breaking no test.
VIOLATIONS = [
    ("emulator/app.py", "import gemtui.quota.engine", "emulator"),
    ("quota/engine.py", "from gemtui.chat import queue", "quota"),
    ("chat/conversation.py", "import textual.widget", "textual-in-tui"),
    ("quota/ledger.py", "from google import genai", "quota"),
    ("gemini/errors.py", "from gemtui.auth import resolve", "provider-edge"),
    ("chat/queue.py", "from gemtui.runtime import Runtime", "layers"),
    ("chat/router.py", "from gemtui.tui import messages", "nothing-imports-tui"),
    ("gemini/client.py", "from gemtui import exitcodes", "exit-statuses"),
]


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` as CI runs it, in `cwd` (its package and its pyproject.toml), on the named contracts."""
    argv = [str(LINT_IMPORTS), "--no-logo", "--no-cache", *(arg for c in contracts for arg in ("--contract", c))]
    env = {**os.environ, "COLUMNS": "300"}  # one contract per line: no wrapping in the report
    env.pop("PYTHONPATH", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    """The package and its pyproject.toml copied aside, so a test can add an import without touching the tree."""
    where = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "gemtui", where / "gemtui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


@pytest.fixture(scope="module", autouse=True)
def _has_checker():
    if not LINT_IMPORTS.exists():
        pytest.fail(f"lint-imports is not installed beside {sys.executable}: pip install '.[test]'")


def test_the_package_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_the_copy_keeps_every_contract_before_any_import_is_added(package_copy):
    """The cases below fail because of the import they add, not because the copy is checked differently."""
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module,offending,contract", VIOLATIONS, ids=[f"{m}:{c}" for m, _, c in VIOLATIONS])
def test_an_import_across_a_layer_breaks_its_contract(package_copy, module, offending, contract):
    path = package_copy / "gemtui" / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{offending}  # added by the test\n", encoding="utf-8")
    try:
        result = lint_imports(package_copy, contract)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    importer = "gemtui." + module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout  # the report names the module that broke the rule


def test_a_new_top_level_module_must_be_given_a_layer(package_copy):
    path = package_copy / "gemtui" / "newcomer.py"
    path.write_text('"""A module nobody placed in a layer yet."""\n', encoding="utf-8")
    try:
        result = lint_imports(package_copy, "layers")
    finally:
        path.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gemtui.newcomer" in result.stdout and "not listed as layers" in result.stdout
