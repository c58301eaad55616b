#!/usr/bin/env bash
# Installs Debian's nvidia-cuda-toolkit (nvcc 11.8, non-free) so that `--features cuda` builds
# on a machine without a GPU. Idempotent; needs root.
set -euo pipefail
if command -v nvcc >/dev/null 2>&1; then
    exit 0
fi
"$(dirname "$0")/enable-non-free.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
nvcc --version | tail -n 2
