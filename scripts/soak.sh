#!/usr/bin/env bash
# Soak test: DURATION seconds (default 600; first argument or SOAK_DURATION) of
# full load on a release build of the greeter-v3, over HTTP/1.1 and h2c at once:
#   - h2load --h1 and h2load (h2c prior knowledge) posting a valid request,
#   - scripts/soak_mixer.py posting a mix of valid and invalid requests over both
#     protocols and checking every answer.
# Then prints the requests served, the wrong answers (must be 0), the crashes
# (must be 0), and the server's RSS at start, after warm-up and at the end
# (growth after warm-up must stay under 5%). Exits non-zero if any check fails.
# Not part of `make test` (too long); `make soak` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-${SOAK_DURATION:-600}}
warmup=$(( duration / 10 < 60 ? duration / 10 : 60 ))
(( warmup >= 2 )) || warmup=2
port=${SOAK_PORT:-18777}
h1_clients=${SOAK_H1_CLIENTS:-8}
h2_clients=${SOAK_H2_CLIENTS:-4}
h2_streams=${SOAK_H2_STREAMS:-8}
mixer_workers=${SOAK_MIXER_WORKERS:-2}

scripts/install-deps.sh >/dev/null
swift build -c release --product greeter-v3 >/dev/null
binary=$(swift build -c release --show-bin-path)/greeter-v3

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A valid request for h2load (built with the official SDK's protocol classes).
.venv-v3/bin/python - "$work/request.bin" <<'EOF'
import sys
from statefun.request_reply_pb2 import ToFunction
from statefun.types_pb2 import IntWrapper, StringWrapper
f = ToFunction(); b = f.invocation
b.target.namespace, b.target.type, b.target.id = "example", "greeter", "soak"
s = b.state.add(); s.state_name = "seen"; s.state_value.typename = "io.statefun.types/int"
s.state_value.has_value = True; s.state_value.value = IntWrapper(value=41).SerializeToString()
a = b.invocations.add().argument
a.typename = "io.statefun.types/string"; a.has_value = True; a.value = StringWrapper(value="soak").SerializeToString()
open(sys.argv[1], "wb").write(f.SerializeToString())
EOF

LOG_LEVEL=warning "$binary" --host 127.0.0.1 --port "$port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "soak: the server did not start"; cat "$work/server.log"; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0; }
alive() { kill -0 "$server_pid" 2>/dev/null; }
rss_start=$(rss)
echo "soak: ${duration} s against $binary (pid $server_pid), warm-up ${warmup} s"

url="http://127.0.0.1:$port/statefun"
h2load --h1 -D "$duration" -c "$h1_clients" -m 1 -d "$work/request.bin" -H "Content-Type: application/octet-stream" \
  "$url" >"$work/h1.txt" 2>&1 &
h1_pid=$!
h2load -D "$duration" -c "$h2_clients" -m "$h2_streams" -d "$work/request.bin" -H "Content-Type: application/octet-stream" \
  "$url" >"$work/h2.txt" 2>&1 &
h2_pid=$!
.venv-v3/bin/python scripts/soak_mixer.py "http://127.0.0.1:$port" "$duration" "$mixer_workers" \
  >"$work/mixer.txt" 2>"$work/mixer.err" &
mixer_pid=$!

crashes=0
rss_warm=""
for (( t = 0; t < duration; t++ )); do
  sleep 1
  if ! alive; then crashes=1; break; fi
  (( t + 1 == warmup )) && rss_warm=$(rss)
done
rss_end=$(rss)
wait "$h1_pid" || true
wait "$h2_pid" || true
wait "$mixer_pid" || true
alive || crashes=1
[ -n "$rss_warm" ] || rss_warm=$rss_end

# h2load: "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout" and "status codes: N 2xx, ..."
h2load_figures() {  # file -> "succeeded failed errored non2xx"
  awk '/^requests:/ { gsub(",", ""); s = $8; f = $10; e = $12 }
       /^status codes:/ { gsub(",", ""); n = $5 + $7 + $9 }
       END { print s + 0, f + 0, e + 0, n + 0 }' "$1"
}
read -r h1_ok h1_failed h1_errored h1_non2xx < <(h2load_figures "$work/h1.txt")
read -r h2_ok h2_failed h2_errored h2_non2xx < <(h2load_figures "$work/h2.txt")
mixer=$(tail -1 "$work/mixer.txt")
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $mixer"; }
mixer_served=$(field served); mixer_valid=$(field valid); mixer_invalid=$(field invalid)
mixer_wrong=$(field wrong); mixer_errors=$(field errors)
: "${mixer_served:=0}" "${mixer_wrong:=0}" "${mixer_errors:=0}" "${mixer_valid:=0}" "${mixer_invalid:=0}"

served=$(( h1_ok + h2_ok + mixer_served ))
wrong=$(( h1_failed + h1_errored + h1_non2xx + h2_failed + h2_errored + h2_non2xx + mixer_wrong + mixer_errors ))
growth=$(awk -v w="$rss_warm" -v e="$rss_end" 'BEGIN { printf "%.2f", (w > 0) ? (e - w) * 100 / w : 0 }')

# The server must also shut down cleanly.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
(( status == 0 )) || crashes=1

echo "requests served: $served (h2load HTTP/1.1: $h1_ok, h2load h2c: $h2_ok, mixer: $mixer_served = $mixer_valid valid + $mixer_invalid invalid)"
echo "wrong answers: $wrong"
echo "crashes: $crashes (exit status after SIGTERM: $status)"
echo "RSS: start $(( rss_start / 1024 )) MiB, after warm-up $(( rss_warm / 1024 )) MiB, end $(( rss_end / 1024 )) MiB (growth after warm-up ${growth}%)"
if (( wrong > 0 )); then
  echo "--- wrong answers:"; grep -v "^$" "$work/mixer.err" | head -20 || true
  grep -E "requests:|status codes:" "$work/h1.txt" "$work/h2.txt" || true
fi
if (( crashes > 0 )); then echo "--- server log:"; tail -20 "$work/server.log"; fi
ok=$(awk -v g="$growth" 'BEGIN { print (g < 5) ? 1 : 0 }')
if (( wrong == 0 && crashes == 0 && ok == 1 )); then echo "soak: PASS"; else echo "soak: FAIL"; exit 1; fi
