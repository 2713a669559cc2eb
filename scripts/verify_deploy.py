"""The deployment's own rules, beyond what the schemas check (scripts/verify-deploy.sh runs it).

Each rule is checked on the files in deploy/; any broken rule is printed and fails the run.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
problems = []


def check(condition, text):
    if not condition:
        problems.append(text)


def documents(path):
    return [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]


def cpu(quantity):
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def env(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# The Swift module's Deployment.
k8s = {(d["kind"], d["metadata"]["name"]): d for d in documents("deploy/kubernetes/greeter-v3.yaml")}
pod = k8s[("Deployment", "greeter-v3")]["spec"]["template"]["spec"]
(container,) = pod["containers"]
variables = env(container)
delay = float(variables.get("STATEFUN_SHUTDOWN_DELAY", 0))   # ServeOptions' defaults: 0 and 30
grace = float(variables.get("STATEFUN_SHUTDOWN_GRACE", 30))
check(pod.get("terminationGracePeriodSeconds", 30) > delay + grace,
      f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} is not above "
      f"STATEFUN_SHUTDOWN_DELAY {delay} + STATEFUN_SHUTDOWN_GRACE {grace}")
limits = container.get("resources", {}).get("limits", {})
check("cpu" in limits and "memory" in limits and "requests" in container.get("resources", {}),
      "greeter-v3 needs requests and CPU and memory limits")
if "cpu" in limits:
    check(variables.get("STATEFUN_LOOPS") is not None and int(variables["STATEFUN_LOOPS"]) == max(1, int(cpu(limits["cpu"]))),
          f"STATEFUN_LOOPS {variables.get('STATEFUN_LOOPS')} does not follow the CPU limit {limits['cpu']}")
check(variables.get("STATEFUN_WORKERS") == "1", "greeter-v3 should run supervised (STATEFUN_WORKERS=1)")
check(variables.get("GREETER_KAFKA") == "1", "greeter-v3 beside Kafka egresses needs GREETER_KAFKA=1")
check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
      "the readiness probe should be GET /healthz")
check("tcpSocket" in container.get("livenessProbe", {}), "the liveness probe should be a TCP check")
hpa = k8s[("HorizontalPodAutoscaler", "greeter-v3")]["spec"]
check(hpa["scaleTargetRef"]["name"] == "greeter-v3", "the autoscaler should scale greeter-v3")
check([m["resource"]["name"] for m in hpa["metrics"] if m["type"] == "Resource"] == ["cpu"],
      "the autoscaler should follow CPU")
check(k8s[("Service", "greeter-v3")]["spec"]["ports"][0]["port"] == 8000, "the Service should expose 8000")

# The runtime: master and workers with ROLE and MASTER_HOST, the module mounted.
runtime = {(d["kind"], d["metadata"]["name"]): d for d in documents("deploy/kubernetes/statefun-runtime.yaml")}
for kind, name, role in [("Deployment", "statefun-master", "master"), ("StatefulSet", "statefun-worker", "worker")]:
    spec = runtime[(kind, name)]["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    check(c["image"] == "apache/flink-statefun:3.3.0", f"{name} should run apache/flink-statefun:3.3.0")
    check(env(c) == {"ROLE": role, "MASTER_HOST": "statefun-master"}, f"{name}: ROLE {role}, MASTER_HOST statefun-master")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    check(mounts.get("module", "").startswith("/opt/statefun/modules/"), f"{name} should mount the module under /opt/statefun/modules/")
check(("Service", "statefun-master") in runtime, "the master needs a Service")
check("module.yaml" in runtime[("ConfigMap", "statefun-module")]["data"], "the module ConfigMap should hold module.yaml")

# Compose: the same roles, the module mounted, greeter-v3 from the Dockerfile in Kafka mode.
compose = documents("deploy/compose/docker-compose.yml")[0]["services"]
for name, role in [("statefun-master", "master"), ("statefun-worker", "worker")]:
    service = compose[name]
    check(service["image"] == "apache/flink-statefun:3.3.0", f"compose {name} should run apache/flink-statefun:3.3.0")
    check(service["environment"] == {"ROLE": role, "MASTER_HOST": "statefun-master"}, f"compose {name}: ROLE and MASTER_HOST")
    check(any(v.startswith("./module.yaml:/opt/statefun/modules/") for v in service["volumes"]),
          f"compose {name} should mount ./module.yaml under /opt/statefun/modules/")
greeter = compose["greeter-v3"]
check(greeter["build"]["args"]["PRODUCT"] == "greeter-v3" and greeter["build"]["context"] == "../..",
      "compose greeter-v3 should build the repository's Dockerfile with PRODUCT=greeter-v3")
check(greeter["environment"].get("GREETER_KAFKA") == "1", "compose greeter-v3 needs GREETER_KAFKA=1")

for problem in problems:
    print(f"verify_deploy: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"verify_deploy: deployment rules hold ({len(k8s) + len(runtime)} Kubernetes resources, {len(compose)} compose services)")
