#!/usr/bin/env bash
# Prints the README's quick-start command number N (1: start the demo app, 2: run the tests), so CI
# runs exactly what a newcomer copies, never a paraphrase of it.
set -euo pipefail
n="${1:?usage: readme-command.sh N}"
cd "$(dirname "$0")/.."
awk -v want="$n" '
    /^## / { inside = ($0 == "## Quick start") }
    inside && /^```sh$/ { block++; grab = (block == want); next }
    /^```$/ { grab = 0 }
    grab { print }
' README.md
