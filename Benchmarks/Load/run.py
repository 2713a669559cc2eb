"""The load benchmark: our greeters, the official Python SDK twins on aiohttp
and nginx answering a fixed 200, each pinned to one core and driven from the
other core with wrk (HTTP/1.1) and h2load (h2c) on identical payloads.

usage: run.py --build DIR --payloads DIR --work DIR [--seconds 10] [--rounds 1] [--only swift,nginx,python]
              [--protocols v2,v3] [--connections 64,1024] [--json FILE]

Prints one Markdown table: req/s, invocations/s, p50/p99 latency and errors
of every run, and each of our figures as a ratio to nginx and to the Python
SDK on the same payload, client and concurrency. With --rounds N, every row
is run N times, its endpoints taking turns, and the table shows medians: on a
noisy machine, ratios of runs minutes apart mean little. Every endpoint's answer to
every payload is checked (with the official SDK's classes) before it is
measured; a wrong answer stops the benchmark.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_CPU, CLIENT_CPU = "0", "1"

PAYLOADS = {
    "v2": [("one", 1), ("batch100", 100), ("batch1000", 1000), ("state64k", 1)],
    "v3": [("one", 1), ("batch100", 100), ("batch1000", 1000)],
}
# batch1000 is measured at 64 connections only: it is there for the cost per invocation.
LARGE_ONLY_64 = {"batch1000"}


def wait_for_port(port, process, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Endpoint:
    """One server under test: started pinned to the server core, stopped after its runs."""

    def __init__(self, name, protocol, command, port, h2_port=None, env=None, checked=True, cwd=None):
        self.name, self.protocol, self.command = name, protocol, command
        self.port, self.h2_port = port, h2_port
        self.env, self.checked, self.cwd = env, checked, cwd
        self.process = None

    def start(self):
        env = dict(os.environ, **(self.env or {}))
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU] + self.command, env=env, cwd=self.cwd,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, self.process)
        if self.h2_port:
            wait_for_port(self.h2_port, self.process)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def rss_kib(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None


def check_answer(endpoint, payload_dir, payload, venvs, work):
    body = open(os.path.join(payload_dir, f"{endpoint.protocol}-{payload}.bin"), "rb").read()
    request = urllib.request.Request(
        f"http://127.0.0.1:{endpoint.port}/statefun", data=body, method="POST",
        headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
        if response.headers.get("Content-Type") != "application/octet-stream":
            raise RuntimeError(f"{endpoint.name}: content type {response.headers.get('Content-Type')}")
    answer_path = os.path.join(work, f"{endpoint.name}-{payload}.answer")
    with open(answer_path, "wb") as f:
        f.write(answer)
    result = subprocess.run(
        [venvs[endpoint.protocol], os.path.join(HERE, "check.py"), endpoint.protocol,
         os.path.join(payload_dir, f"{endpoint.protocol}-{payload}.check"), answer_path],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{endpoint.name} answered {payload} wrongly: {result.stdout.strip()} {result.stderr.strip()}")


def run_wrk(port, body_file, connections, seconds):
    threads = 1
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "--timeout", "10s", "-s", os.path.join(HERE, "post.lua"), f"http://127.0.0.1:{port}/statefun"],
        env=dict(os.environ, BODY_FILE=body_file), capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "errors": errors}


def run_h2load(port, body_file, connections, streams, seconds, work):
    log = os.path.join(work, "h2load.log")
    if os.path.exists(log):
        os.unlink(log)
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "h2load", "-c", str(connections), "-m", str(streams), "-D", str(seconds),
         "-d", body_file, "-H", "content-type: application/octet-stream", "--log-file", log,
         f"http://127.0.0.1:{port}/statefun"],
        capture_output=True, text=True).stdout
    m = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    if not m:
        raise RuntimeError("h2load printed no result:\n" + out)
    rps = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    errors = int(m.group(5)) + int(m.group(6)) + int(m.group(7)) if m else 0
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        errors += int(m.group(3)) + int(m.group(4))
    micros = []
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                micros.append(int(parts[2]))
    micros.sort()

    def pct(p):
        return micros[min(len(micros) - 1, int(len(micros) * p / 100))] / 1000 if micros else None

    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": errors}


def cpu_times():
    """The machine's CPU time counters (/proc/stat's first line): busy, steal, total."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle, steal = fields[3] + fields[4], fields[7]
    return sum(fields) - idle, steal, sum(fields)


def core_busy(cpu):
    """The busy and total time counters of one CPU (/proc/stat's `cpuN` line)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                fields = [int(x) for x in line.split()[1:]]
                return sum(fields) - fields[3] - fields[4], sum(fields)
    return 0, 1


def wait_for_quiet_server_core(limit=60.0):
    """Waits until the server core is idle: an endpoint driven before may still
    be working off the requests queued when its client stopped (a Python SDK
    twin takes seconds over a batch), which would slow the next endpoint's run
    on the same core. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        busy0, total0 = core_busy(SERVER_CPU)
        time.sleep(0.25)
        busy1, total1 = core_busy(SERVER_CPU)
        if (busy1 - busy0) <= 0.05 * max(1, total1 - total0):
            break
    return time.monotonic() - started


def measure(endpoint, client, body_file, connections, streams, args):
    """One run of one client against one endpoint, once the server core is
    idle, with the share of CPU time the hypervisor stole meanwhile (the
    machine's noise, in %)."""
    waited = wait_for_quiet_server_core()
    _, steal0, total0 = cpu_times()
    if client == "HTTP/1.1":
        figures = run_wrk(endpoint.port, body_file, connections, args.seconds)
    else:
        figures = run_h2load(endpoint.h2_port, body_file, connections, streams, args.seconds, args.work)
    _, steal1, total1 = cpu_times()
    figures["steal"] = 100 * (steal1 - steal0) / max(1, total1 - total0)
    figures["waited"] = round(waited, 2)
    return figures


def median(values):
    values = sorted(values)
    n = len(values)
    return None if n == 0 else values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def combined(samples):
    """The rounds of one row as one: medians of req/s and latencies, errors summed,
    the lowest and highest req/s, the highest steal."""
    row = dict(samples[-1])
    for field in ("rps", "p50", "p99"):
        values = [s[field] for s in samples if s[field] is not None]
        row[field] = median(values) if values else None
    row["errors"] = sum(s["errors"] for s in samples)
    row["rps_min"], row["rps_max"] = min(s["rps"] for s in samples), max(s["rps"] for s in samples)
    row["steal"] = max(s["steal"] for s in samples)
    row["rounds"] = len(samples)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True, help="the release build folder with greeter and greeter-v3")
    parser.add_argument("--payloads", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of every row, the endpoints taking turns (order rotated each round); "
                             "the table shows medians")
    parser.add_argument("--only", default="swift,nginx,python")
    parser.add_argument("--protocols", default="v2,v3")
    parser.add_argument("--connections", default="64,1024")
    parser.add_argument("--payload-filter", default="")
    parser.add_argument("--venv-v2", default=os.path.join(ROOT, ".venv-bench-v2/bin/python"))
    parser.add_argument("--venv-v3", default=os.path.join(ROOT, ".venv-bench-v3/bin/python"))
    parser.add_argument("--json")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    only = set(args.only.split(","))
    connection_counts = [int(c) for c in args.connections.split(",")]
    venvs = {"v2": args.venv_v2, "v3": args.venv_v3}
    results = []

    nginx_dir = os.path.join(args.work, "nginx")
    shutil.rmtree(nginx_dir, ignore_errors=True)
    os.makedirs(nginx_dir)

    for protocol in args.protocols.split(","):
        endpoints = []
        if "swift" in only:
            port = free_port()
            binary = os.path.join(args.build, "greeter" if protocol == "v2" else "greeter-v3")
            endpoints.append(Endpoint(
                f"swift-{protocol}", protocol,
                [binary, "--host", "127.0.0.1", "--port", str(port), "--loops", "1"], port, h2_port=port,
                env={"LOG_LEVEL": "error"}))
        if "python" in only:
            port = free_port()
            endpoints.append(Endpoint(
                f"python-{protocol}", protocol,
                [venvs[protocol], os.path.join(HERE, "python_endpoint.py"), protocol, str(port)], port))
        if "nginx" in only:
            port, h2 = free_port(), free_port()
            config = open(os.path.join(HERE, "nginx.conf.in")).read()
            config = config.replace("@PORT@", str(port)).replace("@H2PORT@", str(h2)).replace("@DIR@", nginx_dir)
            config_path = os.path.join(nginx_dir, "nginx.conf")
            with open(config_path, "w") as f:
                f.write(config)
            endpoints.append(Endpoint(
                f"nginx", protocol, ["nginx", "-p", nginx_dir, "-c", config_path], port, h2_port=h2,
                checked=False))

        # All of a protocol's endpoints run at once (idle but for the one being
        # driven), so that every row's endpoints take turns, round after round:
        # drift in the machine's speed then shows in all of them alike.
        rss_before = {}
        try:
            for endpoint in endpoints:
                endpoint.start()
                rss_before[endpoint.name] = endpoint.rss_kib()
            for payload, invocations in PAYLOADS[protocol]:
                if args.payload_filter and payload not in args.payload_filter.split(","):
                    continue
                for endpoint in endpoints:
                    if endpoint.checked:
                        check_answer(endpoint, args.payloads, payload, venvs, args.work)
                body_file = os.path.join(args.payloads, f"{protocol}-{payload}.bin")
                runs = []
                for connections in connection_counts:
                    if payload in LARGE_ONLY_64 and connections != 64:
                        continue
                    runs.append(("HTTP/1.1", connections, 1))
                    runs.append(("h2c", connections, 1))
                if 64 in connection_counts:
                    runs.append(("h2c", 1, 64))
                for client, connections, streams in runs:
                    driven = [e for e in endpoints if client == "HTTP/1.1" or e.h2_port]
                    samples = {e.name: [] for e in driven}
                    for round in range(args.rounds):
                        for k in range(len(driven)):
                            endpoint = driven[(round + k) % len(driven)]
                            figures = measure(endpoint, client, body_file, connections, streams, args)
                            samples[endpoint.name].append(figures)
                            print(json.dumps({"endpoint": endpoint.name, "payload": payload, "client": client,
                                              "connections": connections, "streams": streams, "round": round + 1,
                                              **figures}), file=sys.stderr, flush=True)
                            if endpoint.process.poll() is not None:
                                raise RuntimeError(f"{endpoint.name} exited during the benchmark")
                    for endpoint in driven:
                        results.append({
                            "endpoint": endpoint.name, "protocol": protocol, "payload": payload, "client": client,
                            "connections": connections, "streams": streams, "invocations": invocations,
                            "rss_kib": endpoint.rss_kib(), **combined(samples[endpoint.name]),
                        })
            for endpoint in endpoints:
                print(f"{endpoint.name}: RSS {rss_before[endpoint.name]} KiB at start, {endpoint.rss_kib()} KiB at the end",
                      file=sys.stderr, flush=True)
        finally:
            for endpoint in endpoints:
                endpoint.stop()

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results, args.rounds)


def key(row):
    return (row["protocol"], row["payload"], row["client"], row["connections"], row["streams"])


def print_table(results, rounds):
    by_key = {}
    for row in results:
        by_key.setdefault(key(row), {})[row["endpoint"].split("-")[0]] = row
    if rounds > 1:
        print(f"Medians of {rounds} rounds, the endpoints of a row taking turns; "
              "req/s range: the lowest and highest round; steal: the most the hypervisor took in a round.\n")
    print("| protocol | payload | client | conns×streams | endpoint | req/s | req/s range | invocations/s "
          "| p50 ms | p99 ms | errors | steal % | × nginx | × Python |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        peers = by_key[key(row)]
        mine = row["endpoint"].startswith("swift")
        ratio_nginx = f"{row['rps'] / peers['nginx']['rps']:.2f}" if mine and "nginx" in peers else ""
        ratio_python = f"{row['rps'] / peers['python']['rps']:.1f}" if mine and "python" in peers else ""
        fmt = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
        spread = f"{row['rps_min']:,.0f}–{row['rps_max']:,.0f}" if row["rounds"] > 1 else ""
        print(f"| {row['protocol']} | {row['payload']} | {row['client']} | {row['connections']}×{row['streams']} "
              f"| {row['endpoint']} | {row['rps']:,.0f} | {spread} | {row['rps'] * row['invocations']:,.0f} "
              f"| {fmt(row['p50'])} | {fmt(row['p99'])} | {row['errors']} | {row['steal']:.0f} "
              f"| {ratio_nginx} | {ratio_python} |")


if __name__ == "__main__":
    main()
