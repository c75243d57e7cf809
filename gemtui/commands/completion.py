"""`gemtui completion bash|zsh|fish`: print a shell completion script for gemtui.

The script is generated from the same argparse parser the command line uses, so it knows every
sub-command and option; once installed it completes without starting Python at all.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for SHELL on stdout. Install it with, e.g.:\n"
        "  bash: gemtui completion bash > ~/.local/share/bash-completion/completions/gemtui\n"
        '  zsh:  gemtui completion zsh > "${fpath[1]}/_gemtui"\n'
        "  fish: gemtui completion fish > ~/.config/fish/completions/gemtui.fish",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def script(shell: str) -> str:
    """The completion script for `shell`, generated from gemtui's own parser."""
    import shtab

    from gemtui.commands.parser import build_parser

    return shtab.complete(build_parser(), shell=shell)


def run(args: argparse.Namespace) -> int:
    from gemtui import exitcodes

    print(script(args.shell))
    return exitcodes.EXIT_OK
