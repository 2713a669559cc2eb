#!/usr/bin/env bash
# The main demo: builds and starts the greeter, then plays the StateFun runtime
# against it with statefun-local, fed a file of names: real ToFunction batches
# for several ids, state kept between them, each greeting printed as it comes
# back. Then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product greeter
swift build --product statefun-local
bin=$(swift build --show-bin-path)
port=${DEMO_PORT:-18000}
"$bin/greeter" --host 127.0.0.1 --port "$port" 2>/tmp/statefun-demo-greeter.log &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do   # wait until it accepts connections
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# The module.yaml of the deployment, pointed at the local greeter.
module=$(mktemp --suffix=.yaml)
sed "s#http://greeter:8000#http://127.0.0.1:$port#" module.yaml > "$module"
# One GreetRequest (field 1: name) per name, to example/greeter/<name>.
while read -r name; do
  printf '{"target": "example/greeter/%s", "type": "type.googleapis.com/example.GreetRequest", "fields": {"1": "%s"}}\n' "$name" "$name"
done < Examples/Greeter/names.txt |
  "$bin/statefun-local" --module "$module" |
  .venv/bin/python -c '
import json, sys
for line in sys.stdin:
    record = json.loads(line)
    greeting = record["record_value"]["fields"]
    print("%-8s -> %s" % (record["key"], greeting["2"]), flush=True)'
rm -f "$module"

kill -TERM $server
wait $server
trap - EXIT
echo "greeter stopped cleanly"
