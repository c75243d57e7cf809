#!/usr/bin/env bash
# Runs a command that starts the demo app (the README's first) in tmux, as a person would: waits for
# the chat screen, sends a prompt, waits for the emulator's answer, opens /quota and comes back, quits
# with Ctrl+Q and checks the exit status. Every file the app writes goes to a throw-away XDG tree.
set -euo pipefail
command="${1:?usage: demo-check.sh COMMAND}"
here="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
session="gemtui-demo-check-$$"
export TERM="${TERM:-xterm-256color}"

screen() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }
wait_for() {  # wait_for TEXT SECONDS
    local deadline=$((SECONDS + $2))
    until screen | grep -qF -- "$1"; do
        if [ "$SECONDS" -ge "$deadline" ] || [ -f "$scratch/status" ]; then
            echo "demo-check: '$1' did not appear within $2 s; the screen was:" >&2
            screen >&2
            [ -f "$scratch/status" ] && echo "demo-check: the command ended: $(cat "$scratch/status")" >&2
            tmux kill-session -t "$session" 2>/dev/null || true
            exit 1
        fi
        sleep 1
    done
}

cat > "$scratch/run.sh" <<SCRIPT
cd '$here'
export XDG_CONFIG_HOME='$scratch/config' XDG_DATA_HOME='$scratch/data' XDG_STATE_HOME='$scratch/state'
export XDG_CACHE_HOME='$scratch/cache'
$command
echo "exit \$?" > '$scratch/status'
sleep 30
SCRIPT
tmux new-session -d -s "$session" -x 120 -y 36 "bash '$scratch/run.sh'"
wait_for "demo · free" 600         # pip install, then the chat screen with the demo profile
wait_for "Enter send" 60            # the runtime is open
tmux send-keys -t "$session" "hello from CI [[tokens=40]]" Enter
wait_for "emulator" 60              # the answer (every one opens by naming the emulator)
tmux send-keys -t "$session" C-u    # /quota over the demo's chain, whose last link is profile:model
wait_for "project demo · tier free" 30
tmux send-keys -t "$session" Escape
wait_for "Enter send" 30
tmux send-keys -t "$session" C-q
for _ in $(seq 30); do [ -f "$scratch/status" ] && break; sleep 1; done
status="$(cat "$scratch/status" 2>/dev/null || echo "still running")"
tmux kill-session -t "$session" 2>/dev/null || true
if [ "$status" != "exit 0" ]; then
    echo "demo-check: the app did not quit cleanly ($status)" >&2
    exit 1
fi
echo "demo-check: the demo started, answered and quit cleanly"
