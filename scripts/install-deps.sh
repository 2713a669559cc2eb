#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, idempotently:
# system libraries and tools from apt, and a Python venv (.venv) with the
# reference SDK and the HTTP clients the tests drive the server with.
# Extra Debian packages to install as well may be given as arguments
# (scripts/bench.sh adds its load tools that way); `--deploy` also makes the
# venv of make verify-deploy's tools (.venv-deploy).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy=0
extra=()
for argument in "$@"; do
  if [ "$argument" = --deploy ]; then deploy=1; else extra+=("$argument"); fi
done
apt_packages=(pkg-config libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libnghttp2-dev nghttp2-client curl strace python3-venv ${extra[@]+"${extra[@]}"})
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

# Python: the official StateFun SDKs (the reference peers) and real HTTP clients.
# Both SDKs are the package `statefun`, so each gets a venv of its own.
venv() {  # venv DIR REQUIREMENTS
  local dir=$1 requirements=$2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  if ! cmp -s "$requirements" "$dir/.installed"; then
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/.installed"
  fi
}
venv .venv scripts/requirements.txt        # StateFun 2.2.2
venv .venv-v3 scripts/requirements-v3.txt  # StateFun 3.3.0
if [ "$deploy" = 1 ]; then
  venv .venv-deploy scripts/requirements-deploy.txt  # kubernetes-validate and its schemas
fi
