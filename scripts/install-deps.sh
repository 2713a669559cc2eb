#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, idempotently:
# system libraries and tools from apt, and a Python venv (.venv) with the
# reference SDK and the HTTP clients the tests drive the server with.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(pkg-config libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libnghttp2-dev nghttp2-client curl python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: the official StateFun SDK 2.2.2 (the reference peer) and real HTTP clients.
requirements=scripts/requirements.txt
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
  .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
