"""`gemtui completion bash|zsh|fish`: a script per shell, generated from the real parser, naming every
sub-command; the bash one passes `bash -n` and completes sub-commands when sourced."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gemtui.commands import COMMAND_MODULES
from tests.cli_helpers import Gemtui

SUBCOMMANDS = list(COMMAND_MODULES)


@pytest.fixture
def gemtui(monkeypatch, capsys):
    return Gemtui(monkeypatch, capsys)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_that_knows_every_subcommand(gemtui, shell):
    assert gemtui("completion", shell) == 0
    script = gemtui.outputs[-1][1]
    assert "gemtui" in script
    for name in SUBCOMMANDS:
        assert name in script, name
    for option in ("profile", "model", "demo", "endpoint"):  # fish spells them `-l demo`
        assert f"-{option}" in script or f"-l {option}" in script, option


def test_bash_script_is_valid_bash_and_completes_subcommands(gemtui, tmp_path):
    assert gemtui("completion", "bash") == 0
    path = tmp_path / "gemtui.bash"
    path.write_text(gemtui.outputs[-1][1])
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    probe = (
        f'source {path}; COMP_WORDS=(gemtui do); COMP_CWORD=1; COMP_LINE="gemtui do"; COMP_POINT=9; '
        '_shtab_gemtui gemtui do gemtui; echo "${COMPREPLY[@]}"; '
        'COMP_WORDS=(gemtui completion ""); COMP_CWORD=2; COMP_LINE="gemtui completion "; COMP_POINT=18; '
        '_shtab_gemtui gemtui "" completion; echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == ["doctor", "bash zsh fish"], done.stderr


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_parse_their_script_where_installed(gemtui, tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here")
    assert gemtui("completion", shell) == 0
    path = tmp_path / f"gemtui.{shell}"
    path.write_text(gemtui.outputs[-1][1])
    checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_an_unknown_shell_is_a_usage_error(gemtui):
    with pytest.raises(SystemExit) as stopped:
        gemtui("completion", "tcsh")
    assert stopped.value.code == 2
