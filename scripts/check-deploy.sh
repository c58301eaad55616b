#!/usr/bin/env bash
# Checks what ships for deployment, without a Docker engine or a cluster:
#   - lints Dockerfile and Dockerfile.gpu (hadolint),
#   - validates docker-compose.yml, with and without the gpu profile (Debian's docker-compose),
#   - validates the Kubernetes manifests against the API schemas (kubernetes-validate),
#   - runs the CPU Dockerfile's build and start commands (scripts/check-container.py).
# Tools go into target/deploy-tools; Debian packages are installed when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=target/deploy-tools
if ! "$tools/bin/python" -c 'import kubernetes_validate' 2>/dev/null || [ ! -x "$tools/bin/hadolint" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-deploy-check.txt
fi
if ! command -v docker-compose >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi

echo "check-deploy: hadolint"
"$tools/bin/hadolint" Dockerfile Dockerfile.gpu

echo "check-deploy: docker-compose config"
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile gpu config -q
services=$(docker-compose -f docker-compose.yml --profile gpu config --services | sort | tr '\n' ' ')
[ "$services" = "embeddings embeddings-gpu " ] || { echo "unexpected services: $services" >&2; exit 1; }

echo "check-deploy: kubernetes manifests"
"$tools/bin/kubernetes-validate" --strict deploy/kubernetes/deployment.yaml deploy/kubernetes/service.yaml deploy/kubernetes/hpa.yaml

echo "check-deploy: container commands"
python3 scripts/check-container.py
echo "check-deploy: all passed"
