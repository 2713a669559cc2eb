#!/usr/bin/env bash
# `make verify-image`: does what the Dockerfile does, without a Docker engine
# (these machines have none), and checks that the result serves.
#
# The Dockerfile is the one source of truth: this script reads it (the parser
# below; `--print-spec` prints what it read, and a Swift test compares that with
# the Dockerfile) and runs its commands, so the two cannot drift.
#   1. Build stage: the build stage's apt packages come from
#      scripts/install-deps.sh (as its arguments); its COPY lines are mirrored
#      into .build-image/src (the stage's WORKDIR), and its `swift build` RUN
#      line runs there verbatim with `sh -c` and the ARG's value in the
#      environment, except that the stage's output (the path the runtime stage
#      copies --from=build, /server) is mapped to .build-image/server. The
#      package's own scratch path is then .build-image/src/.build.
#   2. Runtime stage: a root filesystem made with debootstrap (the FROM's
#      Debian suite, --variant=minbase, from deb.debian.org, with the apt
#      sources and settings of Debian's images, slimmed as debian:*-slim is), in which the stage's RUN lines (apt-get
#      install of the runtime packages, useradd) run verbatim in a chroot. It is
#      cached in .build-image/rootfs and rebuilt when the FROM or a RUN line
#      changes (or this script). The binary is copied to the COPY --from=build destination.
#   3. The entrypoint starts in that chroot as the USER, with the ENV (and the
#      PATH and HOME Docker gives a container) and nothing else; the greeter's
#      demo client (a real StateFun 2.x runtime's batches, built with the
#      official SDK) must get its greetings; SIGTERM must end it with status 0.
#   4. Prints the runtime filesystem's size and the binary's.
# Needs root (debootstrap, chroot, mounting /proc). Everything lands in
# .build-image/ (git-ignored and in .dockerignore).
# Options: --print-spec [DOCKERFILE] prints what the parser reads and exits;
# VERIFY_IMAGE_PRODUCT overrides the PRODUCT build argument (as --build-arg does).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The parser: prints one key=value a line; list values repeat the key.
parse() {  # parse DOCKERFILE
  python3 - "$1" <<'PY'
import json, shlex, sys

text = open(sys.argv[1]).read()
# Docker's reading: comment lines go (also inside continuations), then
# backslash-newline joins lines into one instruction.
lines = [l for l in text.split("\n") if not l.lstrip().startswith("#")]
instructions, current = [], ""
for line in lines:
    if line.rstrip().endswith("\\"):
        current += line.rstrip()[:-1]
        continue
    current += line
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        instructions.append((word.upper(), " ".join(rest.split())))
    current = ""

args, stages = {}, []
for word, rest in instructions:
    if word == "FROM":
        words = rest.split()
        image = words[0]
        name = words[2] if len(words) == 3 and words[1].lower() == "as" else ""
        stages.append({"image": image, "name": name, "items": []})
    elif not stages and word == "ARG":
        key, _, value = rest.partition("=")
        args[key] = value
    elif stages:
        stages[-1]["items"].append((word, rest))

def fail(message):
    sys.exit("verify-image: Dockerfile: " + message)

def runs(stage):
    return [rest for word, rest in stage["items"] if word == "RUN"]

def apt_packages(stage):
    packages = []
    for run in runs(stage):
        for step in run.split("&&"):
            words = step.split()
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages

runtime = stages[-1]
copies_from = [rest.split() for word, rest in runtime["items"] if word == "COPY" and rest.startswith("--from=")]
if len(copies_from) != 1 or len(copies_from[0]) != 3:
    fail("the runtime stage should copy one file from the build stage")
build_name = copies_from[0][0][len("--from="):]
build = next((s for s in stages if s["name"] == build_name), None) or fail("no stage named " + build_name)
out = []
emit = lambda key, value: out.append("%s=%s" % (key, value))

for key, value in args.items():
    emit("arg", key + "=" + value)
emit("build_image", build["image"])
for package in apt_packages(build):
    emit("build_package", package)
workdirs = [rest for word, rest in build["items"] if word == "WORKDIR"]
emit("build_workdir", workdirs[-1] if workdirs else "/")
for word, rest in build["items"]:
    if word == "COPY":
        emit("build_copy", rest)
commands = [run for run in runs(build) if "swift build" in run]
if len(commands) != 1:
    fail("the build stage should have one RUN line with swift build")
emit("build_command", commands[0])
emit("build_output", copies_from[0][1])

emit("runtime_image", runtime["image"])
for run in runs(runtime):
    emit("runtime_run", run)
for package in apt_packages(runtime):
    emit("runtime_package", package)
for run in runs(runtime):
    for step in run.split("&&"):
        if step.split()[:1] == ["useradd"]:
            emit("user_command", " ".join(step.split()))
emit("binary", copies_from[0][2])
for word, rest in runtime["items"]:
    if word == "USER":
        emit("user", rest)
    elif word == "EXPOSE":
        for port in rest.split():
            emit("expose", port)
    elif word == "ENV":
        for pair in shlex.split(rest):
            key, sep, value = pair.partition("=")
            if not sep:
                fail("ENV in the legacy form `ENV key value`: use key=value")
            emit("env", key + "=" + value)
    elif word == "ENTRYPOINT":
        for argument in json.loads(rest):
            emit("entrypoint", argument)
    elif word in ("CMD", "WORKDIR", "VOLUME", "SHELL"):
        fail(word + " in the runtime stage: teach scripts/verify-image.sh about it")
print("\n".join(out))
PY
}

if [ "${1:-}" = --print-spec ]; then
  parse "${2:-Dockerfile}"
  exit 0
fi

spec_lines=$(parse Dockerfile)
spec() { sed -n "s/^$1=//p" <<<"$spec_lines"; }  # every value of KEY, one a line
one() { local v; v=$(spec "$1"); [ -n "$v" ] && [ "$(wc -l <<<"$v")" = 1 ] || { echo "verify-image: Dockerfile: expected one $1" >&2; exit 1; }; printf '%s' "$v"; }

work=$root/.build-image
mkdir -p "$work"
mapfile -t build_packages < <(spec build_package)
scripts/install-deps.sh debootstrap rsync "${build_packages[@]}"

started=$SECONDS
# --- 1. The build stage -----------------------------------------------------
product=${VERIFY_IMAGE_PRODUCT:-$(spec arg | sed -n 's/^PRODUCT=//p')}
context=$work/src  # stands for the stage's WORKDIR
mkdir -p "$context"
while read -r source dest; do  # COPY SOURCE DEST, DEST relative to the WORKDIR
  [[ $source != --* ]] || { echo "verify-image: COPY $source: not supported in the build stage" >&2; exit 1; }
  if [ -d "$source" ]; then
    mkdir -p "$context/$dest"
    rsync -a --delete "$source/" "$context/$dest/"
  else
    rsync -a "$source" "$context/$dest"
  fi
done < <(spec build_copy)
command=$(one build_command)
output=$(one build_output)
command=${command//" $output"/" $work/server"}
echo "verify-image: build stage (PRODUCT=$product, in $context): $command"
(cd "$context" && PRODUCT=$product sh -c "$command")
echo "verify-image: build stage done in $((SECONDS - started)) s"

# --- 2. The runtime stage: a cached root filesystem --------------------------
image=$(one runtime_image)
suite=$(sed -n 's/^debian:\([a-z]*\)\(-slim\)\{0,1\}$/\1/p' <<<"$image")
[ -n "$suite" ] || { echo "verify-image: the runtime stage's FROM $image is not debian:<suite>[-slim]" >&2; exit 1; }
mirror=http://deb.debian.org/debian
rootfs=$work/rootfs
# Made again when the FROM, a RUN line or this script changes.
key=$(printf '%s %s\n%s\n%s\n' "$image" "$mirror" "$(spec runtime_run)" "$(sha256sum <"$0")" | sha256sum | cut -d' ' -f1)

unmount() {  # unmount DIR if mounted
  if mountpoint -q "$1"; then umount "$1"; fi
}
server="" namespace=""
cleanup() {
  # SIGKILL to the server, PID 1 of its namespace, ends every process in it (unshare's
  # --kill-child cannot: the kernel drops it when chroot --userspec changes the uid).
  # Its /proc is in its own mount namespace and goes with it.
  if [ -n "$server" ]; then kill -KILL "$server" 2>/dev/null || true; fi
  if [ -n "$namespace" ]; then kill -KILL "$namespace" 2>/dev/null || true; fi
  unmount "$rootfs.new/proc"
}
trap cleanup EXIT
trap "exit 1" INT TERM

in_chroot() {  # in_chroot DIR COMMAND: as a Dockerfile RUN line (sh -c, root, Docker's PATH)
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive chroot "$1" /bin/sh -c "$2"
}

if [ "$(cat "$work/rootfs.key" 2>/dev/null)" != "$key" ] || [ ! -d "$rootfs" ]; then
  step=$SECONDS
  echo "verify-image: making the $image root filesystem (debootstrap $suite, minbase)"
  unmount "$rootfs/proc"
  rm -rf "$rootfs" "$rootfs.new" "$work/rootfs.key"
  debootstrap --variant=minbase "$suite" "$rootfs.new" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  # The apt sources of Debian's images (the updates and security suites too).
  rm -f "$rootfs.new/etc/apt/sources.list"
  cat >"$rootfs.new/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What Debian's image build (debuerreotype) adds to minbase: the apt settings of its
  # Docker images, and for the -slim ones, no documentation, manuals or translations.
  cat >"$rootfs.new/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::GzipIndexes "true";' >"$rootfs.new/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' >"$rootfs.new/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs.new/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$rootfs.new/var/cache/apt/archives/"*.deb "$rootfs.new/var/cache/apt/"*.bin
  if [[ $image == *-slim ]]; then
    excludes=(/usr/share/doc/ /usr/share/groff/ /usr/share/info/ /usr/share/linda/ /usr/share/lintian/overrides/ /usr/share/locale/ /usr/share/man/)
    { for e in "${excludes[@]}"; do echo "path-exclude $e*"; done
      echo "path-include /usr/share/doc/*/copyright"; } >"$rootfs.new/etc/dpkg/dpkg.cfg.d/docker"
    for e in "${excludes[@]}"; do
      [ -d "$rootfs.new$e" ] || continue
      find "$rootfs.new$e" -mindepth 1 ! -path "$rootfs.new/usr/share/doc/*/copyright" ! -type d -delete
      find "$rootfs.new$e" -mindepth 1 -depth -type d -empty -delete
    done
  fi
  cp /etc/resolv.conf "$rootfs.new/etc/resolv.conf"  # Docker provides one in a container too
  mount -t proc proc "$rootfs.new/proc"
  while read -r run; do
    echo "verify-image: RUN $run"
    in_chroot "$rootfs.new" "$run" >"$work/runtime-run.log" 2>&1 || { tail -20 "$work/runtime-run.log"; exit 1; }
  done < <(spec runtime_run)
  umount "$rootfs.new/proc"
  mv "$rootfs.new" "$rootfs"
  echo "$key" >"$work/rootfs.key"
  echo "verify-image: root filesystem made in $((SECONDS - step)) s"
else
  echo "verify-image: root filesystem cached ($rootfs)"
fi
binary=$(one binary)
install -D -m 755 "$work/server" "$rootfs$binary"

# --- 3. Start the entrypoint as the image does, serve, stop ------------------
user=$(one user)
passwd=$(grep "^$user:" "$rootfs/etc/passwd") || { echo "verify-image: no user $user in the image" >&2; exit 1; }
uid=$(cut -d: -f3 <<<"$passwd"); gid=$(cut -d: -f4 <<<"$passwd"); home=$(cut -d: -f6 <<<"$passwd")
mapfile -t environment < <(spec env)
mapfile -t entrypoint < <(spec entrypoint)
port=$(spec env | sed -n 's/^STATEFUN_PORT=//p')
path=$(spec env | sed -n 's/^STATEFUN_PATH=//p')
if ss -Hltn "sport = :$port" | grep -q .; then
  taken=$port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
  environment+=("STATEFUN_PORT=$port")  # the later assignment wins with env(1)
  echo "verify-image: port $taken is taken here: STATEFUN_PORT=$port overrides the image's"
fi
log=$work/server.log
# Docker's environment: PATH, HOSTNAME, HOME (from the user's passwd entry), then the ENV.
# As in a container the entrypoint is PID 1 of its own PID namespace, with its own /proc.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=verify-image HOME="$home" \
  "${environment[@]}" unshare --pid --fork --mount-proc="$rootfs/proc" \
  chroot --userspec="$uid:$gid" --groups="$gid" "$rootfs" "${entrypoint[@]}" >"$log" 2>&1 &
namespace=$!
for _ in $(seq 1 600); do  # until it accepts connections (at most a minute)
  [ -n "$server" ] || server=$(pgrep -P "$namespace" || true)
  [ -n "$server" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$namespace" 2>/dev/null || { cat "$log"; echo "verify-image: the server exited at start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$server" ] || { cat "$log"; echo "verify-image: the server did not start" >&2; exit 1; }
running_as=$(awk '/^Uid:/ {print $2}' "/proc/$server/status")
[ "$running_as" = "$uid" ] || { echo "verify-image: the server runs as uid $running_as, not $uid" >&2; exit 1; }
pid_inside=$(awk '/^NSpid:/ {print $NF}' "/proc/$server/status")
echo "verify-image: $(tr '\0' ' ' <"/proc/$server/cmdline")is running as $user (uid $uid), PID $pid_inside in its namespace, on port $port"

answer=$(.venv/bin/python Examples/Greeter/Python/demo_client.py "http://127.0.0.1:$port$path") \
  || { cat "$log"; echo "verify-image: the demo client failed" >&2; exit 1; }
echo "$answer" | sed 's/^/  /'
grep -qx "12 greetings from 9 batches" <<<"$answer" \
  || { echo "verify-image: expected 12 greetings from 9 batches" >&2; exit 1; }

kill -TERM "$server"  # as `docker stop` does
for _ in $(seq 1 100); do  # at most 10 s
  kill -0 "$namespace" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$namespace" 2>/dev/null; then
  cat "$log"; echo "verify-image: still running 10 s after SIGTERM" >&2; exit 1
fi
status=0; wait "$namespace" || status=$?  # unshare --fork exits with the entrypoint's status
namespace="" server=""
[ "$status" = 0 ] || { cat "$log"; echo "verify-image: exit status $status after SIGTERM" >&2; exit 1; }
echo "verify-image: SIGTERM: exit status 0"

# --- 4. Sizes ----------------------------------------------------------------
binary_bytes=$(stat -c %s "$rootfs$binary")
total_bytes=$(du -sb "$rootfs" | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "verify-image: runtime filesystem $(mib $((total_bytes - binary_bytes))) + binary $(mib "$binary_bytes") = $(mib "$total_bytes")"
echo "verify-image: passed in $((SECONDS - started)) s"
