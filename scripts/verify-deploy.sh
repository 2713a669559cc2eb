#!/usr/bin/env bash
# make verify-deploy (CI): checks deploy/ without Docker or a cluster.
# 1. deploy/compose/docker-compose.yml with `docker-compose config` (Debian's docker-compose, v1),
#    which checks it against the Compose schema and resolves it;
# 2. deploy/kubernetes/*.yaml against the Kubernetes schemas (kubernetes-validate, offline:
#    the schemas ship in the package), strict: an unknown field fails;
# 3. the deployment's own rules (scripts/verify_deploy.py): shutdown timing, event loops and CPU
#    limit, supervised mode, probes, the module.yaml mounts;
# 4. every module.yaml shipped (the examples', deploy/compose's, the one in the Kubernetes
#    ConfigMap) parsed by statefun-local --check-module.
# The packages come from scripts/install-deps.sh (the Makefile target calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.30.0}

echo "== docker-compose config (deploy/compose)"
docker-compose --version
docker-compose -f deploy/compose/docker-compose.yml config --quiet
docker-compose -f deploy/compose/docker-compose.yml config --services

echo "== Kubernetes schemas $KUBERNETES_VERSION (deploy/kubernetes)"
.venv-deploy/bin/kubernetes-validate --kubernetes-version "$KUBERNETES_VERSION" --strict deploy/kubernetes/*.yaml

echo "== deployment rules"
.venv-deploy/bin/python scripts/verify_deploy.py

echo "== module.yaml files (statefun-local --check-module)"
swift build --product statefun-local
modules=(module.yaml Examples/*/module.yaml deploy/compose/module.yaml deploy/kubernetes/statefun-runtime.yaml)
"$(swift build --show-bin-path)/statefun-local" $(printf -- '--check-module %s ' "${modules[@]}")
echo "verify-deploy: all checks passed"
