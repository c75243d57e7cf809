#!/usr/bin/env bash
# What the keyring tests need beyond pip: Debian's gnome-keyring (the Secret Service) and a D-Bus
# daemon. The tests start their own private session bus and an unlocked keyring daemon, so nothing
# here starts a service. Skips apt entirely when everything is already installed.
set -euo pipefail

packages=(gnome-keyring dbus dbus-x11)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "keyring-setup: ${packages[*]} already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "keyring-setup: apt-get not found; install ${missing[*]} (or equivalents) by hand;" \
         "the Secret Service tests will be skipped without them" >&2
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "keyring-setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
