#!/usr/bin/env bash
# The main demo: builds and starts the greeter, drives it with real ToFunction
# batches for several ids, prints each greeting, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product greeter
port=${DEMO_PORT:-18000}
"$(swift build --show-bin-path)/greeter" --host 127.0.0.1 --port "$port" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do   # wait until it accepts connections
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
PYTHONPATH=Examples/Greeter/Python .venv/bin/python Examples/Greeter/Python/demo_client.py "http://127.0.0.1:$port/statefun"
kill -TERM $server
wait $server
trap - EXIT
echo "greeter stopped cleanly"
