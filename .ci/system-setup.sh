#!/usr/bin/env bash
# What CI needs beyond pip: Debian's gnome-keyring (the Secret Service) and a D-Bus daemon for the
# keyring tests (they start their own private session bus and an unlocked keyring daemon, so nothing
# here starts a service), redis-server for the team ledger's tests (they start their own server on a
# free loopback port), zsh and fish so the completion scripts are syntax-checked in every shell
# gemtui completes, and tmux, in which CI runs the README's first command (the demo app) as a
# person would. Skips apt entirely when everything is already installed.
set -euo pipefail

packages=(gnome-keyring dbus dbus-x11 tmux redis-server zsh fish)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system-setup: ${packages[*]} already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-setup: apt-get not found; install ${missing[*]} (or equivalents) by hand;" \
         "the Secret Service tests are skipped and the demo check fails without them" >&2
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "system-setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
